package agentcore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentgw/agentgateway/agentcore"
)

// FuzzParseARN: any string is a region or an ErrARN error; a region never contains ':'.
func FuzzParseARN(f *testing.F) {
	f.Add("arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/my_agent-abc123")
	f.Add("arn:aws:bedrock-agentcore::1:runtime/x")
	f.Add("arn:aws:bedrock-agentcore:r:1:runtime/")
	f.Add("arn:aws-cn:bedrock-agentcore:cn-north-1:1:runtime/a:b/c")
	f.Add(":::::")
	f.Fuzz(func(t *testing.T, arn string) {
		region, err := agentcore.ParseARN(arn)
		if err != nil {
			if !errors.Is(err, agentcore.ErrARN) {
				t.Fatal(err)
			}
			return
		}
		if region == "" || strings.Contains(region, ":") {
			t.Fatalf("region %q from %q", region, arn)
		}
	})
}
