package config_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/internal/awstest"
)

// TestCloudGuardsFromYAML: an ai policy's bedrockGuardrails, googleModelArmor and
// azureContentSafety guards call their services in their wire formats with the configured
// credentials (Bedrock: SigV4 with policies.backendAuth.aws; Model Armor: the key as a bearer
// token; Content Safety: the resource key) before the provider is called, and each one's verdict
// is enforced: Bedrock masks, Model Armor and Content Safety reject.
func TestCloudGuardsFromYAML(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	record := func(s string) { mu.Lock(); calls = append(calls, s); mu.Unlock() }
	creds := aws.Credentials{AccessKeyID: "AKIDYAML", SecretAccessKey: "yaml-secret"}
	br := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if svc, region, err := awstest.VerifySigV4(r, body, creds); err != nil || svc != "bedrock" || region != "us-west-2" {
			http.Error(w, "bad signature", 403)
			return
		}
		var in struct {
			Source  string
			Content []struct{ Text struct{ Text string } }
		}
		_ = json.Unmarshal(body, &in)
		text := in.Content[0].Text.Text
		record("bedrock " + r.URL.Path + " " + in.Source + " " + text)
		if strings.Contains(text, "Alice") {
			out, _ := json.Marshal(strings.ReplaceAll(text, "Alice", "{NAME}"))
			fmt.Fprintf(w, `{"action":"GUARDRAIL_INTERVENED","outputs":[{"text":%s}],"assessments":[{"sensitiveInformationPolicy":{"piiEntities":[{"type":"NAME","match":"Alice","action":"ANONYMIZED"}]}}]}`, out)
			return
		}
		io.WriteString(w, `{"action":"NONE","outputs":[],"assessments":[]}`)
	}))
	t.Cleanup(br.Close)
	ma := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			UserPromptData struct{ Text string } `json:"userPromptData"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		record("armor " + r.URL.Path + " " + r.Header.Get("Authorization") + " " + in.UserPromptData.Text)
		state := "NO_MATCH_FOUND"
		if strings.Contains(in.UserPromptData.Text, "jailbreak") {
			state = "MATCH_FOUND"
		}
		fmt.Fprintf(w, `{"sanitizationResult":{"filterMatchState":%q,"invocationResult":"SUCCESS"}}`, state)
	}))
	t.Cleanup(ma.Close)
	az := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		record("azure " + r.URL.Path + "?" + r.URL.RawQuery + " " + r.Header.Get("Ocp-Apim-Subscription-Key") + " " + in.Text)
		sev := 0
		if strings.Contains(in.Text, "hateful") {
			sev = 6
		}
		fmt.Fprintf(w, `{"blocklistsMatch":[],"categoriesAnalysis":[{"category":"Hate","severity":%d}]}`, sev)
	}))
	t.Cleanup(az.Close)
	oa := newLLMStub(t, "openai", false)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", br.URL)
	t.Setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_MODELARMOR", ma.URL+"/")
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai: {name: openai, provider: {openAI: {}}, hostOverride: $OA}
      policies:
        ai:
          promptGuard:
            request:
            - bedrockGuardrails:
                guardrailIdentifier: gr-7
                guardrailVersion: DRAFT
                region: us-west-2
                policies: {backendAuth: {aws: {accessKeyId: AKIDYAML, secretAccessKey: yaml-secret}}}
            - googleModelArmor:
                projectId: p1
                templateId: t1
                policies: {backendAuth: {key: ya29.yaml}}
              rejection: {status: 400, body: "armor"}
            - azureContentSafety:
                endpoint: $AZ
                analyzeText: {severityThreshold: 4}
                policies: {backendAuth: {key: az-key}}
              rejection: {status: 422, body: "unsafe"}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://"), "AZ": az.URL})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"I am Alice"}]}`)
	require.Equal(t, 200, status, body)
	req, _, _ := oa.last()
	msgs, _ := json.Marshal(req["messages"])
	assert.JSONEq(t, `[{"role":"user","content":"I am {NAME}"}]`, string(msgs))
	mu.Lock()
	assert.Equal(t, []string{
		"bedrock /guardrail/gr-7/version/DRAFT/apply INPUT I am Alice",
		"armor /v1/projects/p1/locations/us-central1/templates/t1:sanitizeUserPrompt Bearer ya29.yaml I am {NAME}",
		"azure /contentsafety/text:analyze?api-version=2024-09-01 az-key I am {NAME}",
	}, calls)
	mu.Unlock()

	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"a jailbreak"}]}`)
	assert.Equal(t, 400, status, body)
	assert.Contains(t, body, "armor")
	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hateful words"}]}`)
	assert.Equal(t, 422, status, body)
	assert.Contains(t, body, "unsafe")

	for _, c := range []struct{ guard, path string }{
		{"{bedrockGuardrails: {guardrailIdentifier: g, region: r}}", "bedrockGuardrails"},
		{"{googleModelArmor: {projectId: p, templateId: t, policies: {backendTLS: {insecure: true}}}}", "googleModelArmor.policies.backendTLS"},
		{"{azureContentSafety: {endpoint: x.cognitiveservices.azure.com}}", "azureContentSafety"},
	} {
		_, err := build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{ai: {name: o, provider: {openAI: {}}}}], policies: {ai: {promptGuard: {request: ["+c.guard+"]}}}}]}]}]", nil)
		require.Error(t, err, c.guard)
		assert.Contains(t, err.Error(), c.path, c.guard)
	}
	_, err := build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{ai: {name: o, provider: {openAI: {}}}}], policies: {ai: {promptGuard: {response: [{azureContentSafety: {endpoint: h, detectJailbreak: {}}}]}}}}]}]}]", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "applies to request guards only")
}

// The flat azureContentSafety form of agentgateway's published example (severityThreshold beside
// endpoint) is analyzeText with that threshold.
func TestAzureContentSafetyFlatThreshold(t *testing.T) {
	az := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		sev := 2
		if strings.Contains(in.Text, "hateful") {
			sev = 4
		}
		fmt.Fprintf(w, `{"blocklistsMatch":[],"categoriesAnalysis":[{"category":"Hate","severity":%d}]}`, sev)
	}))
	t.Cleanup(az.Close)
	oa := newLLMStub(t, "openai", false)
	srv, _ := serveRuntime(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai: {name: openai, provider: {openAI: {}}, hostOverride: $OA}
      policies:
        ai:
          promptGuard:
            request:
            - azureContentSafety: {endpoint: $AZ, severityThreshold: 4, policies: {backendAuth: {key: k}}}
`, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://"), "AZ": az.URL})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"mild words"}]}`)
	assert.Equal(t, 200, status, body)
	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hateful words"}]}`)
	assert.NotEqual(t, 200, status, body)

	_, err := build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{ai: {name: o, provider: {openAI: {}}}}], policies: {ai: {promptGuard: {request: [{azureContentSafety: {endpoint: h, severityThreshold: 1, analyzeText: {}}}]}}}}]}]}]", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "azureContentSafety.severityThreshold")
}
