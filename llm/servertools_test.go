package llm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// searchMCP is a go-sdk MCP server with one `search` tool, served over streamable HTTP.
type searchMCP struct {
	mu      sync.Mutex
	queries []string
	fail    atomic.Bool   // the tool answers with an isError result
	down    atomic.Bool   // tools/call fails at the transport (HTTP 502)
	block   chan struct{} // when set, a call waits for it (or for cancellation)
	entered chan struct{} // signalled when a blocked call starts
	handler http.Handler  // the streamable HTTP handler
	srv     *mcp.Server
}

func newSearchMCP(t *testing.T) *searchMCP {
	t.Helper()
	s := &searchMCP{}
	s.srv = mcp.NewServer(&mcp.Implementation{Name: "searxng", Version: "1"}, nil)
	type args struct {
		Query string `json:"query" jsonschema:"what to search for"`
	}
	mcp.AddTool(s.srv, &mcp.Tool{Name: "search", Description: "Search the web"},
		func(ctx context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
			s.mu.Lock()
			s.queries = append(s.queries, a.Query)
			s.mu.Unlock()
			if s.block != nil {
				s.entered <- struct{}{}
				select {
				case <-s.block:
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				}
			}
			if s.fail.Load() {
				return nil, nil, errors.New("searxng is down")
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "result for " + a.Query + ": Spain won"}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.srv }, &mcp.StreamableHTTPOptions{JSONResponse: true})
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() && r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			if strings.Contains(string(b), `"tools/call"`) {
				http.Error(w, "searxng is down", http.StatusBadGateway)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	})
	return s
}

func (s *searchMCP) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// chatModel is an OpenAI chat-completions provider stub: while the conversation holds fewer tool
// results than `rounds`, it asks for the tool it was offered (a new query each time); then it
// answers with the last tool result it saw.
type chatModel struct {
	srv    *httptest.Server
	rounds int
	mu     sync.Mutex
	reqs   []map[string]any
}

func newChatModel(t *testing.T, rounds int) *chatModel {
	t.Helper()
	m := &chatModel{rounds: rounds}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *chatModel) requests() []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]map[string]any(nil), m.reqs...)
}

func (m *chatModel) serve(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, "bad request", 400)
		return
	}
	m.mu.Lock()
	m.reqs = append(m.reqs, req)
	m.mu.Unlock()
	var results []string
	msgs, _ := req["messages"].([]any)
	for _, x := range msgs {
		mm, _ := x.(map[string]any)
		if mm["role"] == "tool" {
			c, _ := mm["content"].(string)
			if c == "" { // content parts
				parts, _ := mm["content"].([]any)
				for _, p := range parts {
					pp, _ := p.(map[string]any)
					t, _ := pp["text"].(string)
					c += t
				}
			}
			results = append(results, c)
		}
	}
	tools, _ := req["tools"].([]any)
	toolName := ""
	if len(tools) > 0 {
		fn, _ := tools[0].(map[string]any)["function"].(map[string]any)
		toolName, _ = fn["name"].(string)
	}
	w.Header().Set("Content-Type", "application/json")
	usage := map[string]any{"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
	if len(results) < m.rounds && toolName != "" {
		args, _ := json.Marshal(map[string]string{"query": fmt.Sprintf("who won %d", len(results))})
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "c1", "object": "chat.completion", "model": "qwen3-up",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "tool_calls", "message": map[string]any{"role": "assistant",
				"tool_calls": []any{map[string]any{"id": fmt.Sprintf("call_%d", len(results)), "type": "function",
					"function": map[string]any{"name": toolName, "arguments": string(args)}}}}}},
			"usage": usage})
		return
	}
	answer := "no tool result"
	if len(results) > 0 {
		answer = "Answer from: " + results[len(results)-1]
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "c2", "object": "chat.completion", "model": "qwen3-up",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": answer}}},
		"usage":   usage})
}

func serverToolsGateway(t *testing.T, model *chatModel, mcpH http.Handler, st llm.ServerTools) string {
	t.Helper()
	base, _ := serverToolsGatewayState(t, model, mcpH, st)
	return base
}

// serverToolsGatewayState also returns the last request's State, once the gateway is idle.
func serverToolsGatewayState(t *testing.T, model *chatModel, mcpH http.Handler, st llm.ServerTools) (string, func() agentgateway.State) {
	t.Helper()
	st.Tools = []llm.ServerTool{{Type: "web_search_*", MCP: mcpH, Tool: "search"}}
	r, err := llm.New(llm.Model("qwen3", llm.OpenAI(llm.BaseURL(model.srv.URL+"/v1"), llm.APIKey("k")), llm.WithServerTools(st)))
	if err != nil {
		t.Fatal(err)
	}
	return gateway(t, r)
}

func webSearchParams(maxUses int64) anthropic.MessageNewParams {
	ws := &anthropic.WebSearchTool20250305Param{}
	if maxUses > 0 {
		ws.MaxUses = anthropic.Int(maxUses)
	}
	return anthropic.MessageNewParams{Model: "qwen3", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("who won the cup?"))},
		Tools:    []anthropic.ToolUnionParam{{OfWebSearchTool20250305: ws}}}
}

func messageText(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// TestServerToolsAnthropicWebSearch: an Anthropic SDK client declares web_search_20250305; the
// OpenAI-wire model is offered a function tool with the MCP tool's schema instead, asks for it
// once, the gateway runs the go-sdk MCP tool and sends the result back, and the client gets the
// model's final answer (no tool_use of the gateway's tool, stop_reason end_turn, summed usage).
func TestServerToolsAnthropicWebSearch(t *testing.T) {
	model, search := newChatModel(t, 1), newSearchMCP(t)
	base, state := serverToolsGatewayState(t, model, search.handler, llm.ServerTools{MaxIterations: 3})
	msg, err := anc(base).Messages.New(context.Background(), webSearchParams(0))
	if err != nil {
		t.Fatal(err)
	}
	if got := messageText(msg); got != "Answer from: result for who won 0: Spain won" {
		t.Errorf("answer %q", got)
	}
	for _, c := range msg.Content {
		if c.Type == "tool_use" {
			t.Errorf("the gateway's tool call reached the client: %+v", c)
		}
	}
	if msg.StopReason != "end_turn" || msg.Usage.InputTokens != 20 || msg.Usage.OutputTokens != 6 {
		t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
	}
	if st := state(); st.LLM.InputTokens != 20 || st.LLM.OutputTokens != 6 {
		t.Errorf("State usage %d/%d, want the turn's sum 20/6", st.LLM.InputTokens, st.LLM.OutputTokens)
	}
	if q := search.calls(); len(q) != 1 || q[0] != "who won 0" {
		t.Errorf("MCP calls %v", q)
	}
	reqs := model.requests()
	if len(reqs) != 2 {
		t.Fatalf("model calls %d, want 2", len(reqs))
	}
	tool := reqs[0]["tools"].([]any)[0].(map[string]any)
	fn := tool["function"].(map[string]any)
	if tool["type"] != "function" || fn["name"] != "web_search" || fn["description"] != "Search the web" ||
		!strings.Contains(fmt.Sprint(fn["parameters"]), "query") {
		t.Errorf("tool offered to the model %v", tool)
	}
	if reqs[0]["stream"] == true || reqs[1]["stream"] == true {
		t.Error("the loop's model calls must not stream")
	}
}

// TestServerToolsPassThrough: a request without a mapped server tool, and a model that does not
// call the tool, are served as before.
func TestServerToolsPassThrough(t *testing.T) {
	model, search := newChatModel(t, 0), newSearchMCP(t)
	base := serverToolsGateway(t, model, search.handler, llm.ServerTools{})
	c := anClient(base)
	p := webSearchParams(0)
	msg, err := c.Messages.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if messageText(msg) != "no tool result" || msg.Usage.InputTokens != 10 || len(search.calls()) != 0 {
		t.Errorf("answer %q usage %+v calls %v", messageText(msg), msg.Usage, search.calls())
	}
	p.Tools = []anthropic.ToolUnionParam{anWeatherTool}
	if _, err := c.Messages.New(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if fn := model.requests()[1]["tools"].([]any)[0].(map[string]any)["function"].(map[string]any); fn["name"] != "get_weather" {
		t.Errorf("client tool changed: %v", fn)
	}
}

// TestServerToolsMaxIterations: a model that keeps asking is stopped after maxIterations tool
// rounds (and a client max_uses lowers the bound); its last answer reaches the client without the
// gateway's tool call.
func TestServerToolsMaxIterations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxIter int
		maxUses int64
		want    int
	}{{"maxIterations", 2, 0, 2}, {"max_uses", 3, 1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			model, search := newChatModel(t, 100), newSearchMCP(t)
			base := serverToolsGateway(t, model, search.handler, llm.ServerTools{MaxIterations: tc.maxIter})
			msg, err := anc(base).Messages.New(context.Background(), webSearchParams(tc.maxUses))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(search.calls()); got != tc.want {
				t.Errorf("MCP calls %d, want %d", got, tc.want)
			}
			if got := len(model.requests()); got != tc.want+1 {
				t.Errorf("model calls %d, want %d", got, tc.want+1)
			}
			for _, c := range msg.Content {
				if c.Type == "tool_use" {
					t.Errorf("the gateway's tool call reached the client")
				}
			}
			if msg.StopReason != "end_turn" {
				t.Errorf("stop reason %q", msg.StopReason)
			}
		})
	}
}

// TestServerToolsFailureMode: an MCP call that fails (the backend answers tools/call with an HTTP
// error) ends the turn with a clear 502 api_error under failClosed; under failOpen the model is told
// the call failed and answers. A tool's own isError result is handed to the model in both modes.
func TestServerToolsFailureMode(t *testing.T) {
	t.Run("failClosed", func(t *testing.T) {
		model, search := newChatModel(t, 1), newSearchMCP(t)
		search.down.Store(true)
		base := serverToolsGateway(t, model, search.handler, llm.ServerTools{FailureMode: llm.ServerToolFailClosed})
		_, err := anc(base).Messages.New(context.Background(), webSearchParams(0))
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 502 || !strings.Contains(ae.Error(), "search") {
			t.Fatalf("err %v", err)
		}
		if len(model.requests()) != 1 {
			t.Errorf("model called again after a failClosed tool failure")
		}
	})
	t.Run("failOpen", func(t *testing.T) {
		model, search := newChatModel(t, 1), newSearchMCP(t)
		search.down.Store(true)
		base := serverToolsGateway(t, model, search.handler, llm.ServerTools{FailureMode: llm.ServerToolFailOpen})
		msg, err := anc(base).Messages.New(context.Background(), webSearchParams(0))
		if err != nil {
			t.Fatal(err)
		}
		if got := messageText(msg); !strings.Contains(got, "tool call failed") {
			t.Errorf("answer %q: the model was not told of the failure", got)
		}
	})
	t.Run("isError result", func(t *testing.T) {
		model, search := newChatModel(t, 1), newSearchMCP(t)
		search.fail.Store(true)
		base := serverToolsGateway(t, model, search.handler, llm.ServerTools{FailureMode: llm.ServerToolFailClosed})
		msg, err := anc(base).Messages.New(context.Background(), webSearchParams(0))
		if err != nil {
			t.Fatal(err)
		}
		if got := messageText(msg); !strings.Contains(got, "searxng is down") {
			t.Errorf("answer %q: the tool's error result did not reach the model", got)
		}
	})
	t.Run("unreachable backend", func(t *testing.T) {
		model := newChatModel(t, 1)
		down := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "nope", 503) })
		base := serverToolsGateway(t, model, down, llm.ServerTools{})
		_, err := anc(base).Messages.New(context.Background(), webSearchParams(0))
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 502 {
			t.Fatalf("err %v", err)
		}
		if len(model.requests()) != 0 {
			t.Errorf("the model was called without the tool's definition")
		}
	})
}

// TestServerToolsStreaming: a streaming client gets ping events while the tool runs, then the
// final answer as Anthropic stream events the SDK accumulates into one message.
func TestServerToolsStreaming(t *testing.T) {
	model, search := newChatModel(t, 1), newSearchMCP(t)
	base := serverToolsGateway(t, model, search.handler, llm.ServerTools{KeepaliveInterval: 50 * time.Millisecond})
	stream := anc(base).Messages.NewStreaming(context.Background(), webSearchParams(0))
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := messageText(&msg); got != "Answer from: result for who won 0: Spain won" || msg.StopReason != "end_turn" {
		t.Errorf("answer %q stop %q", got, msg.StopReason)
	}

	// Pings: the tool is held until the client has seen one.
	search.block, search.entered = make(chan struct{}), make(chan struct{}, 1)
	body := `{"model":"qwen3","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"q"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`
	resp, err := http.Post(base+"/v1/messages", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	<-search.entered
	rd := bufio.NewReader(resp.Body)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before a ping: %v", err)
		}
		if strings.TrimSpace(line) == "event: ping" {
			break
		}
	}
	close(search.block)
	rest, _ := io.ReadAll(rd)
	if !strings.Contains(string(rest), "event: message_stop") || !strings.Contains(string(rest), "Spain won") {
		t.Errorf("stream after the ping: %s", rest)
	}
}

// TestServerToolsClientDisconnect: a client that goes away while the tool runs cancels the MCP call
// and the loop: the model is not called again, and no goroutine is left (goleak in TestMain).
func TestServerToolsClientDisconnect(t *testing.T) {
	model, search := newChatModel(t, 1), newSearchMCP(t)
	search.block, search.entered = make(chan struct{}), make(chan struct{}, 1)
	r, err := llm.New(llm.Model("qwen3", llm.OpenAI(llm.BaseURL(model.srv.URL+"/v1"), llm.APIKey("k")),
		llm.WithServerTools(llm.ServerTools{FailureMode: llm.ServerToolFailOpen, // even failOpen must not go on for a client that left
			Tools: []llm.ServerTool{{Type: "web_search_*", MCP: search.handler, Tool: "search"}}})))
	if err != nil {
		t.Fatal(err)
	}
	noticed, handled := make(chan struct{}), make(chan struct{})
	base := gatewayWith(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer close(handled)
		stop := context.AfterFunc(req.Context(), func() { close(noticed) })
		defer stop()
		r.ServeHTTP(w, req)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := anc(base).Messages.New(ctx, webSearchParams(0))
		done <- err
	}()
	<-search.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	<-noticed // the gateway saw the client leave while the tool ran
	// The go-sdk server only cancels the tool if the client's cancel notification beats the
	// session's DELETE; the tool finishing must then let everything unwind.
	close(search.block)
	<-handled
	if n := len(model.requests()); n != 1 {
		t.Errorf("model calls %d after the client left", n)
	}
}

func anc(base string) *anthropic.Client {
	c := anClient(base)
	return &c
}
