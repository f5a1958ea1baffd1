package llm_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/awstest"
	"github.com/agentgw/agentgateway/llm"
)

// routeStub records the requests it gets (method, path, body) and answers with a fixed body.
type routeStub struct {
	mu    sync.Mutex
	paths []string
	body  string
	auth  string
	srv   *httptest.Server
}

func newRouteStub(t *testing.T, ctype, answer string) *routeStub {
	s := &routeStub{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.paths = append(s.paths, r.Method+" "+r.URL.RequestURI())
		s.body = string(b)
		s.auth = r.Header.Get("Authorization")
		s.mu.Unlock()
		w.Header().Set("Content-Type", ctype)
		io.WriteString(w, answer)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func postRaw(t *testing.T, url, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestAIRoutesServeConfiguredAPIs: a route policy's routes make a path no default classification
// knows serve chat completions, make the chat completions path a passthrough (the body and path
// reach the provider unchanged, model included, with the gateway's key instead of the client's), and
// "*" decides every other path; the innermost policy with routes wins over the router's.
func TestAIRoutesServeConfiguredAPIs(t *testing.T) {
	s := newRouteStub(t, "application/json", `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	up := llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("sk-gw"))
	r, err := llm.New(llm.Model("m", up, llm.As("gpt-x")),
		llm.Govern(llm.AIPolicy{Routes: map[string]llm.RouteType{"*": llm.RouteMessages}}))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := llm.NewAIPolicy(llm.AIPolicy{Routes: map[string]llm.RouteType{
		"/custom/generate": llm.RouteCompletions, "/v1/chat/completions": llm.RoutePassthrough, "*": llm.RouteDetect}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var last agentgateway.State
	capture := agentgateway.PolicyFunc(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			next.ServeHTTP(w, req)
			mu.Lock()
			last = *agentgateway.StateFrom(req.Context())
			mu.Unlock()
		})
	})
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("llm").PathPrefix("/").Use(capture, pol).To(r); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)

	chatBody := `{"model":"m","messages":[{"role":"user","content":"hi"}],"x_vendor":1}`
	status, body, _ := postRaw(t, srv.URL+"/custom/generate", chatBody)
	if status != 200 || !strings.Contains(body, `"content":"hi"`) {
		t.Fatalf("completions route: %d %s", status, body)
	}
	if s.paths[0] != "POST /v1/chat/completions" || !strings.Contains(s.body, `"model":"gpt-x"`) {
		t.Fatalf("provider got %v %s", s.paths, s.body)
	}
	status, body, _ = postRaw(t, srv.URL+"/v1/chat/completions?trace=1", chatBody, "Authorization", "Bearer client-key")
	if status != 200 || s.paths[1] != "POST /v1/chat/completions?trace=1" || s.body != chatBody || s.auth != "Bearer sk-gw" {
		t.Fatalf("passthrough route: %d %s; provider got %v %s", status, body, s.paths, s.body)
	}
	// detect ("*"): any path goes to the provider as it is, and the usage is read
	status, _, _ = postRaw(t, srv.URL+"/v1/some/new/api", `{"model":"m","input":"x"}`)
	mu.Lock()
	st := last
	mu.Unlock()
	if status != 200 || s.paths[2] != "POST /v1/some/new/api" || st.LLM.InputTokens != 3 || st.LLM.OutputTokens != 1 || st.LLM.ResponseModel != "gpt-x" {
		t.Fatalf("detect route: %d %v %+v", status, s.paths, st.LLM)
	}
	// without the route policy, the router's own routes ("*": messages) apply
	bare := httptest.NewServer(r)
	t.Cleanup(bare.Close)
	status, body, _ = postRaw(t, bare.URL+"/anything", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || !strings.Contains(body, `"type":"message"`) {
		t.Fatalf("router routes: %d %s", status, body)
	}
	if _, err := llm.NewAIPolicy(llm.AIPolicy{Routes: map[string]llm.RouteType{"/rt": "realtime"}}); err == nil {
		t.Fatal("realtime routes accepted")
	}
}

// TestDetectBedrockEventStream: a detect route forwards a Bedrock ConverseStream call (path
// /model/{id}/converse-stream, SigV4-signed for the model's region) unchanged, hands the client the
// provider's event stream byte for byte, and reads the usage from its metadata event; an
// InvokeModelWithResponseStream answer gives the model and the usage of its invocation metrics.
func TestDetectBedrockEventStream(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIDBR", SecretAccessKey: "br-secret"}
	frame := func(event, payload string) []byte {
		var b bytes.Buffer
		var m eventstream.Message
		m.Headers.Set(":event-type", eventstream.StringValue(event))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Payload = []byte(payload)
		if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	chunk := func(inner string) []byte {
		return frame("chunk", fmt.Sprintf(`{"bytes":%q}`, base64.StdEncoding.EncodeToString([]byte(inner))))
	}
	converse := bytes.Join([][]byte{
		frame("messageStart", `{"role":"assistant"}`),
		frame("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hello"}}`),
		frame("messageStop", `{"stopReason":"end_turn"}`),
		frame("metadata", `{"usage":{"inputTokens":11,"outputTokens":7,"totalTokens":20,"cacheReadInputTokens":2},"metrics":{"latencyMs":5}}`),
	}, nil)
	invoke := bytes.Join([][]byte{
		chunk(`{"type":"message_start","message":{"model":"claude-3-haiku-20240307","usage":{"input_tokens":9,"output_tokens":1}}}`),
		chunk(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`),
		chunk(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":9,"outputTokenCount":4,"invocationLatency":100,"firstByteLatency":50}}`),
	}, nil)
	var gotPath, gotBody string
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if svc, region, err := awstest.VerifySigV4(r, body, creds); err != nil || svc != "bedrock" || region != "us-east-1" {
			http.Error(w, "bad signature", 403)
			return
		}
		gotPath, gotBody = r.URL.EscapedPath(), string(body)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		if strings.HasSuffix(r.URL.Path, "/invoke-with-response-stream") {
			w.Write(invoke)
			return
		}
		w.Write(converse)
	}))
	t.Cleanup(stub.Close)
	up := llm.Bedrock("us-east-1", llm.BaseURL(stub.URL), llm.AWSCredentials(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")))
	r, err := llm.New(llm.Model("anthropic.claude-*", up), llm.Govern(llm.AIPolicy{Routes: map[string]llm.RouteType{"*": llm.RouteDetect}}))
	if err != nil {
		t.Fatal(err)
	}
	base, state := gateway(t, r)
	body := `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
	status, out, hdr := postRaw(t, base+"/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream", body, "Accept", "application/vnd.amazon.eventstream")
	if status != 200 || out != string(converse) || hdr.Get("Content-Type") != "application/vnd.amazon.eventstream" {
		t.Fatalf("converse-stream: %d %q", status, out)
	}
	if gotPath != "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream" || gotBody != body {
		t.Fatalf("provider got %s %s", gotPath, gotBody)
	}
	st := state()
	if st.LLM.InputTokens != 13 || st.LLM.OutputTokens != 7 || st.LLM.CachedInputTokens != 2 || st.LLM.RequestModel != "anthropic.claude-3-haiku-20240307-v1:0" {
		t.Fatalf("converse usage: %+v", st.LLM)
	}
	status, out, _ = postRaw(t, base+"/model/anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}`)
	if status != 200 || out != string(invoke) {
		t.Fatalf("invoke stream: %d", status)
	}
	st = state()
	if st.LLM.InputTokens != 9 || st.LLM.OutputTokens != 4 || st.LLM.ResponseModel != "claude-3-haiku-20240307" {
		t.Fatalf("invoke usage: %+v", st.LLM)
	}
}
