package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
)

// bedrockGuard calls the AWS Bedrock ApplyGuardrail API: POST
// /guardrail/{identifier}/version/{version}/apply on bedrock-runtime, SigV4-signed for "bedrock".
type bedrockGuard struct {
	identifier, version, region string
	// signer signs the calls with its credentials (the SDK's default chain unless Credentials
	// gives others), as it signs Converse calls.
	signer *BedrockConverse
	base   string // from AWS_ENDPOINT_URL_BEDROCK_RUNTIME / AWS_ENDPOINT_URL, else the region's
}

// BedrockGuardrails is a guard that applies the Bedrock guardrail identifier (an ID or ARN) at
// version ("DRAFT" or a number) in region through the ApplyGuardrail API: requests with source
// INPUT, answers with source OUTPUT. When the guardrail intervenes with a BLOCKED assessment the
// content is rejected; when it intervenes otherwise (PII anonymized) the texts are replaced by the
// guardrail's outputs. Calls are SigV4-signed with the AWS SDK's default credential chain unless
// [Guard.Credentials] gives [AWSSigV4] credentials; the endpoint follows the SDK's
// AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL variables, else [Guard.Endpoint].
func BedrockGuardrails(identifier, version, region string) *Guard {
	b := &bedrockGuard{identifier: identifier, version: version, region: region, signer: NewBedrockConverse(region)}
	b.base = os.Getenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
	if b.base == "" {
		b.base = os.Getenv("AWS_ENDPOINT_URL")
	}
	g := newCloudGuard(kindBedrockGuardrails, b)
	g.cloud.auth = b.sign
	if identifier == "" || version == "" || region == "" {
		g.err = errors.New("bedrockGuardrails: guardrailIdentifier, guardrailVersion and region are required")
	}
	return g
}

func (*bedrockGuard) name() string { return "bedrock guardrails" }

func (b *bedrockGuard) defaultBase() string {
	if b.base != "" {
		return b.base
	}
	return "https://bedrock-runtime." + b.region + ".amazonaws.com"
}

type bgText struct {
	Text string `json:"text"`
}

type bgContent struct {
	Text bgText `json:"text"`
}

type bgAnswer struct {
	Action  string `json:"action"`
	Outputs []struct {
		Text string `json:"text"`
	} `json:"outputs"`
	Assessments []json.RawMessage `json:"assessments"`
}

func (b *bedrockGuard) assess(ctx context.Context, c *cloudGuard, texts []string, output bool) ([]string, bool, error) {
	in := struct {
		Source  string      `json:"source"`
		Content []bgContent `json:"content"`
	}{Source: "INPUT"}
	if output {
		in.Source = "OUTPUT"
	}
	for _, t := range texts {
		in.Content = append(in.Content, bgContent{bgText{t}})
	}
	path := "/guardrail/" + url.PathEscape(b.identifier) + "/version/" + url.PathEscape(b.version) + "/apply"
	var ans bgAnswer
	if err := c.post(ctx, path, in, &ans); err != nil {
		return nil, false, err
	}
	switch ans.Action {
	case "NONE":
		return nil, false, nil
	case "GUARDRAIL_INTERVENED":
	default:
		return nil, false, fmt.Errorf("unknown action %q", ans.Action)
	}
	for _, a := range ans.Assessments {
		if hasBlocked(a) {
			return nil, true, nil
		}
	}
	// Anonymized: the outputs replace the texts in order (as agentgateway pairs them).
	out := append([]string(nil), texts...)
	for i := 0; i < len(out) && i < len(ans.Outputs); i++ {
		out[i] = ans.Outputs[i].Text
	}
	return out, false, nil
}

// hasBlocked reports whether an assessment holds "action": "BLOCKED" at any depth.
func hasBlocked(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	return findString(v, "action", "BLOCKED")
}

// findString reports whether v holds key: want in any object at any depth.
func findString(v any, key, want string) bool {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x[key].(string); ok && s == want {
			return true
		}
		for _, c := range x {
			if findString(c, key, want) {
				return true
			}
		}
	case []any:
		for _, c := range x {
			if findString(c, key, want) {
				return true
			}
		}
	}
	return false
}

// sign authenticates a Bedrock guardrail call with the guard's SigV4 credentials.
func (b *bedrockGuard) sign(req *http.Request, body []byte) error {
	return b.signer.SignRequest(req, body)
}
