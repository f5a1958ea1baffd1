package policy_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// The helpers every policy test uses, shared with the subpackages' tests.
type seen = policytest.Seen

var (
	do      = policytest.Do
	req     = policytest.Req
	reqBody = policytest.ReqBody
)
