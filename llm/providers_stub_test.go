package llm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// Static test credentials the Bedrock stub verifies signatures with.
const (
	testAccessKey = "AKIDTESTGATEWAY"
	testSecretKey = "test-secret-key-for-sigv4"
	testRegion    = "us-east-1"
)

// provStub is a provider stub that speaks one wire exactly ("gemini" or "bedrock") and records the
// requests it got.
type provStub struct {
	t    *testing.T
	wire string
	srv  *httptest.Server

	mu      sync.Mutex
	bodies  []map[string]any
	paths   []string
	headers []http.Header
	// failSig counts requests rejected for a bad SigV4 signature.
	failSig int
	// midStreamError makes the next stream fail after its first text delta.
	midStreamError bool
}

func newProvStub(t *testing.T, wire string) *provStub {
	s := &provStub{t: t, wire: wire}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *provStub) last() (map[string]any, string, http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		return nil, "", nil
	}
	n := len(s.bodies) - 1
	return s.bodies[n], s.paths[n], s.headers[n]
}

func (s *provStub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, `{"message":"bad json"}`, 400)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, req)
	s.paths = append(s.paths, r.URL.RequestURI())
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	if s.wire == "gemini" {
		s.gemini(w, r, req)
	} else {
		s.bedrock(w, r, req, body)
	}
}

// turn decides the answer: a tool call when tools are offered and no result came yet, an answer
// quoting the tool result when one came, else a greeting.
type turn struct {
	toolCall bool
	text     string
}

// --- Gemini ---

func (s *provStub) gemini(w http.ResponseWriter, r *http.Request, req map[string]any) {
	if r.Header.Get("x-goog-api-key") != "gk-up" && r.Header.Get("Authorization") != "Bearer ya29.test-token" {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"code":401,"message":"API key not valid. Please pass a valid API key.","status":"UNAUTHENTICATED"}}`)
		return
	}
	stream := strings.HasSuffix(r.URL.Path, ":streamGenerateContent")
	if !stream && !strings.HasSuffix(r.URL.Path, ":generateContent") || (stream && r.URL.Query().Get("alt") != "sse") {
		w.WriteHeader(404)
		io.WriteString(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`)
		return
	}
	tr := turn{text: "Hello from gemini"}
	contents, _ := req["contents"].([]any)
	if len(contents) > 0 {
		lastC, _ := contents[len(contents)-1].(map[string]any)
		parts, _ := lastC["parts"].([]any)
		for _, p := range parts {
			if fr, ok := p.(map[string]any)["functionResponse"].(map[string]any); ok {
				resp, _ := fr["response"].(map[string]any)
				tr.text = fmt.Sprintf("Weather: %v", resp["result"])
			}
		}
	}
	if _, ok := req["tools"]; ok && !strings.HasPrefix(tr.text, "Weather") {
		tr.toolCall = true
	}
	usage := `"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":5,"cachedContentTokenCount":2,"totalTokenCount":17}`
	call := `{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}`
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		part := fmt.Sprintf(`{"text":%q}`, tr.text)
		if tr.toolCall {
			part = call
		}
		fmt.Fprintf(w, `{"candidates":[{"content":{"role":"model","parts":[%s]},"finishReason":"STOP","index":0}],%s,"modelVersion":"gemini-2.5-flash","responseId":"gm-resp-1"}`, part, usage)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	f := w.(http.Flusher)
	if tr.toolCall {
		fmt.Fprintf(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[%s]},\"finishReason\":\"STOP\",\"index\":0}],%s,\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"gm-resp-2\"}\r\n\r\n", call, usage)
		return
	}
	half := len(tr.text) / 2
	fmt.Fprintf(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":%q}]},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"gm-resp-2\"}\r\n\r\n", tr.text[:half])
	f.Flush()
	if s.midStreamError {
		fmt.Fprint(w, "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n")
		return
	}
	fmt.Fprintf(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":%q}]},\"finishReason\":\"STOP\",\"index\":0}],%s,\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"gm-resp-2\"}\r\n\r\n", tr.text[half:], usage)
}

// --- Bedrock ---

// verifySigV4 recomputes the request's SigV4 signature with the static test credentials, at the
// time the request names, and compares it with the one sent.
func verifySigV4(r *http.Request, body []byte) error { return verifySigV4For(r, body, "bedrock") }

// verifySigV4For verifies a SigV4 signature for service.
func verifySigV4For(r *http.Request, body []byte, service string) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+testAccessKey+"/") {
		return fmt.Errorf("authorization %q is not a SigV4 signature with the test key", auth)
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if r.Header.Get("X-Amz-Content-Sha256") != payload {
		return fmt.Errorf("payload hash %q does not match the body", r.Header.Get("X-Amz-Content-Sha256"))
	}
	t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	if !ok || !strings.Contains(signed, "host") || !strings.Contains(signed, "x-amz-content-sha256") {
		return fmt.Errorf("signed headers %q", signed)
	}
	// Recompute over exactly the headers the client says it signed (the transport adds others).
	cl := r.Clone(context.Background())
	cl.Header = http.Header{}
	for _, h := range strings.Split(signed, ";") {
		if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			cl.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	cl.URL.Scheme, cl.URL.Host = "http", r.Host
	cl.Body = io.NopCloser(bytes.NewReader(body))
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cl, payload, service, testRegion, t); err != nil {
		return err
	}
	if got := cl.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature mismatch:\n got  %s\n want %s", auth, got)
	}
	return nil
}

func (s *provStub) bedrock(w http.ResponseWriter, r *http.Request, req map[string]any, body []byte) {
	if err := verifySigV4(r, body); err != nil {
		s.mu.Lock()
		s.failSig++
		s.mu.Unlock()
		s.t.Logf("bedrock stub: %v", err)
		w.Header().Set("x-amzn-ErrorType", "InvalidSignatureException")
		w.WriteHeader(403)
		io.WriteString(w, `{"message":"The request signature we calculated does not match the signature you provided."}`)
		return
	}
	stream := strings.HasSuffix(r.URL.Path, "/converse-stream")
	if !strings.HasPrefix(r.URL.Path, "/model/") || (!stream && !strings.HasSuffix(r.URL.Path, "/converse")) {
		w.WriteHeader(404)
		io.WriteString(w, `{"message":"Unknown operation"}`)
		return
	}
	tr := turn{text: "Hello from bedrock"}
	msgs, _ := req["messages"].([]any)
	if len(msgs) > 0 {
		lastM, _ := msgs[len(msgs)-1].(map[string]any)
		blocks, _ := lastM["content"].([]any)
		for _, b := range blocks {
			if res, ok := b.(map[string]any)["toolResult"].(map[string]any); ok {
				c, _ := res["content"].([]any)
				if len(c) > 0 {
					tr.text = fmt.Sprintf("Weather: %v", c[0].(map[string]any)["text"])
				}
			}
		}
	}
	if _, ok := req["toolConfig"]; ok && !strings.HasPrefix(tr.text, "Weather") {
		tr.toolCall = true
	}
	usage := `{"inputTokens":10,"outputTokens":5,"totalTokens":17,"cacheReadInputTokens":2,"cacheWriteInputTokens":0}`
	if !stream {
		w.Header().Set("Content-Type", "application/json")
		block, stop := fmt.Sprintf(`{"text":%q}`, tr.text), "end_turn"
		if tr.toolCall {
			block, stop = `{"toolUse":{"toolUseId":"tooluse_abc123","name":"get_weather","input":{"city":"Paris"}}}`, "tool_use"
		}
		fmt.Fprintf(w, `{"output":{"message":{"role":"assistant","content":[%s]}},"stopReason":%q,"usage":%s,"metrics":{"latencyMs":42}}`, block, stop, usage)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	enc := eventstream.NewEncoder()
	f := w.(http.Flusher)
	send := func(event, payload string) {
		var m eventstream.Message
		m.Headers.Set(":event-type", eventstream.StringValue(event))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Payload = []byte(payload)
		if err := enc.Encode(w, m); err != nil {
			s.t.Error(err)
		}
		f.Flush()
	}
	send("messageStart", `{"p":"abcd","role":"assistant"}`)
	stop := "end_turn"
	if tr.toolCall {
		stop = "tool_use"
		send("contentBlockStart", `{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"tooluse_abc123","name":"get_weather"}}}`)
		send("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{\"city\":"}}}`)
		send("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"toolUse":{"input":"\"Paris\"}"}}}`)
	} else {
		half := len(tr.text) / 2
		b1, _ := json.Marshal(tr.text[:half])
		b2, _ := json.Marshal(tr.text[half:])
		send("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":`+string(b1)+`}}`)
		if s.midStreamError {
			var m eventstream.Message
			m.Headers.Set(":exception-type", eventstream.StringValue("throttlingException"))
			m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
			m.Headers.Set(":message-type", eventstream.StringValue("exception"))
			m.Payload = []byte(`{"message":"Too many tokens, please wait before trying again."}`)
			_ = enc.Encode(w, m)
			return
		}
		send("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":`+string(b2)+`}}`)
	}
	send("contentBlockStop", `{"contentBlockIndex":0}`)
	send("messageStop", `{"stopReason":"`+stop+`"}`)
	send("metadata", `{"usage":`+usage+`,"metrics":{"latencyMs":42}}`)
}

// staticCreds are the credentials the gateway signs Bedrock requests with in tests.
func staticCreds(secret string) llm.UpstreamOption {
	return llm.AWSCredentials(credentials.NewStaticCredentialsProvider(testAccessKey, secret, ""))
}

// serveLLM serves r with a State in each request's context and returns the URL and the last State.
func serveLLM(t *testing.T, r *llm.Router) (string, func() agentgateway.LLMState) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var last agentgateway.LLMState
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		wg.Add(1)
		defer wg.Done()
		st := &agentgateway.State{Start: time.Now()}
		r.ServeHTTP(w, req.WithContext(agentgateway.WithState(req.Context(), st)))
		mu.Lock()
		last = st.LLM
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() agentgateway.LLMState {
		wg.Wait() // a client may finish reading a stream before the handler has returned
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}
