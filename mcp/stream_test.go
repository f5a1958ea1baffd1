package mcp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// countingListener counts the TCP connections a server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// serveCounted serves h on 127.0.0.1, counting the connections it accepts.
func serveCounted(t testing.TB, h http.Handler) (*httptest.Server, *countingListener) {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	cl := &countingListener{Listener: ts.Listener}
	ts.Listener = cl
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, cl
}

// connectNoGET opens a go-sdk client session without the standalone GET stream, so that the only
// upstream traffic is the calls a test makes.
func connectNoGET(t testing.TB, url string) *sdk.ClientSession {
	t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1.0.0"}, nil)
	cs, err := c.Connect(ctxT(t), &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// A target that answers in SSE (the go-sdk default) ends each answer with the end of its chunked
// body; the gateway must read it, or the upstream connection is closed and every call dials anew.
func TestSSEAnswerReusesUpstreamConnection(t *testing.T) {
	t.Run("built-in client", func(t *testing.T) { testSSEReuse(t, nil) })
	t.Run("net/http client", func(t *testing.T) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		testSSEReuse(t, &http.Client{Transport: tr})
	})
}

func testSSEReuse(t *testing.T, hc *http.Client) {
	// The count must not depend on how soon a loaded machine runs the target's end of stream.
	t.Cleanup(mcp.SetDrainWait(time.Minute))
	s := demoServer("alpha")
	up, conns := serveCounted(t, sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}, HTTPClient: hc}))
	cs := connectNoGET(t, gw.URL+"/mcp")
	params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}}
	for range 3 { // warm-up
		_, err := cs.CallTool(ctxT(t), params)
		require.NoError(t, err)
	}
	before := conns.n.Load()
	const calls = 50
	for range calls {
		res, err := cs.CallTool(ctxT(t), params)
		require.NoError(t, err)
		require.Equal(t, "alpha:hi", text(t, res))
	}
	require.Zero(t, conns.n.Load()-before, "new upstream connections over %d calls", calls)
}

// blockingServer has a tool that runs until its context is cancelled, then reports it.
func blockingServer(started chan<- struct{}, cancelled chan<- struct{}) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "blocker", Version: "1.0.0"}, nil)
	s.AddTool(&sdk.Tool{Name: "block", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
			cancelled <- struct{}{}
		case <-time.After(time.Minute):
		}
		return &sdk.CallToolResult{}, nil
	})
	return s
}

// A client that disconnects in the middle of a tool call must not leave the tool running at the
// target: the gateway sends notifications/cancelled for the request it forwarded.
func TestClientDisconnectCancelsUpstreamCall(t *testing.T) {
	for _, mode := range []struct {
		name string
		json bool
	}{{"sse", false}, {"json", true}} {
		t.Run(mode.name, func(t *testing.T) {
			started, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
			up := serveHTTP(t, blockingServer(started, cancelled), &sdk.StreamableHTTPOptions{JSONResponse: mode.json})
			gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))
			url := gw.URL + "/mcp"
			sid := initSession(t, url)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"block","arguments":{}}}`))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", sid)
			errc := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			select {
			case <-started:
			case <-time.After(30 * time.Second):
				t.Fatal("the tool did not start")
			}
			cancel() // the client goes away
			<-errc
			select {
			case <-cancelled:
			case <-time.After(30 * time.Second):
				t.Fatal("the tool kept running after the client disconnected")
			}
		})
	}
}

// sseEvents reads SSE events (and comment lines, as events with comment set) from a stream.
type rawEvent struct {
	id, data string
	comment  bool
}

func readEvents(t testing.TB, body io.Reader) <-chan rawEvent {
	t.Helper()
	ch := make(chan rawEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev rawEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.id != "" || ev.data != "" {
					ch <- ev
				}
				ev = rawEvent{}
			case strings.HasPrefix(line, ":"):
				ch <- rawEvent{comment: true}
			case strings.HasPrefix(line, "id:"):
				ev.id = strings.TrimSpace(line[3:])
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimPrefix(line[5:], " ")
			}
		}
	}()
	return ch
}

func nextEvent(t testing.TB, ch <-chan rawEvent) rawEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "stream ended")
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event")
	}
	return rawEvent{}
}

// openStream sends a raw request and returns the response with its events; ctx ends it.
func openStream(t testing.TB, ctx context.Context, method, url, sid, body string, hdr ...string) (*http.Response, <-chan rawEvent) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp, readEvents(t, resp.Body)
}

// slowSSETarget is a streamable HTTP target whose tools/call answer is an SSE stream that opens
// with a keep-alive comment and carries the response once release is closed.
func slowSSETarget(release <-chan struct{}) http.Handler {
	return scriptedTarget("slow", func(w http.ResponseWriter, r *http.Request, id json.RawMessage, method string) (string, bool) {
		switch method {
		case "tools/list":
			return `{"tools":[{"name":"slow","inputSchema":{"type":"object"}}]}`, false
		case "tools/call":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, ": ping\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return "", true
			}
			fmt.Fprintf(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[]}}\n\n", id)
			return "", true
		}
		return `{}`, false
	})
}

// A long tool call gets its response headers and an SSE stream before the response, kept alive
// with comments (the target's own, passed on, and the gateway's), so that an idle-timeout load
// balancer in front of the gateway does not cut it.
func TestLongCallStreamIsKeptAlive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		comments  int
	}{
		{"target's keep-alive passed on", -1, 1},           // the gateway writes none of its own
		{"gateway's keep-alive", 10 * time.Millisecond, 3}, // and the target's
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			up := newHTTPServer(t, slowSSETarget(release))
			gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}, SSEKeepAlive: tc.keepAlive}))
			url := gw.URL + "/mcp"
			sid := initSession(t, url)
			resp, events := openStream(t, ctxT(t), http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow","arguments":{}}}`)
			// The headers came before the response, which is still held by the target.
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			for range tc.comments {
				require.True(t, nextEvent(t, events).comment)
			}
			close(release)
			for {
				ev := nextEvent(t, events)
				if !ev.comment {
					require.JSONEq(t, `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`, ev.data)
					break
				}
			}
		})
	}
}

// resumableServer is a go-sdk server (to be served with an EventStore) whose tool "slow" sends a
// progress notification, then answers "done" once release is closed ("cancelled" if its context
// ends first).
func resumableServer(release <-chan struct{}) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "resumable", Version: "1.0.0"}, nil)
	s.AddTool(&sdk.Tool{Name: "slow", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		if err := req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1}); err != nil {
			return nil, err
		}
		answer := "done"
		select {
		case <-release:
		case <-ctx.Done():
			answer = "cancelled"
		}
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: answer}}}, nil
	})
	return s
}

// A client whose POST stream breaks resumes it with GET and Last-Event-ID, as the streamable HTTP
// transport specifies: the gateway's event ids name the target and the target's own event id, so
// the resumption goes to the target that owns the stream, which replays what the client missed.
// A client that can resume has not cancelled: the tool runs on.
func TestResumeBrokenPostStream(t *testing.T) {
	release := make(chan struct{})
	up := serveHTTP(t, resumableServer(release), &sdk.StreamableHTTPOptions{EventStore: sdk.NewMemoryEventStore(nil)})
	other := serveHTTP(t, demoServer("beta"), nil)
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL), mcp.HTTPTarget("beta", other.URL)}}))
	url := gw.URL + "/mcp"
	sid := initSession(t, url)

	ctx, cancel := context.WithCancel(ctxT(t))
	_, events := openStream(t, ctx, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"alpha_slow","arguments":{},"_meta":{"progressToken":"p1"}}}`)
	var last string
	for {
		ev := nextEvent(t, events)
		if ev.id != "" {
			require.True(t, strings.HasPrefix(ev.id, "alpha/"), "event id %q names the target", ev.id)
			last = ev.id
		}
		if strings.Contains(ev.data, "notifications/progress") {
			break
		}
	}
	require.NotEmpty(t, last)
	cancel() // the stream breaks
	for range events {
	}
	close(release)

	_, events = openStream(t, ctxT(t), http.MethodGet, url, sid, "", "Last-Event-ID", last)
	for {
		ev := nextEvent(t, events)
		if ev.comment || ev.data == "" {
			continue
		}
		require.True(t, strings.HasPrefix(ev.id, "alpha/"), "event id %q", ev.id)
		var m struct {
			ID     int                `json:"id"`
			Result sdk.CallToolResult `json:"result"`
		}
		require.NoError(t, json.Unmarshal([]byte(ev.data), &m), ev.data)
		if m.ID == 42 {
			require.Equal(t, "done", text(t, &m.Result))
			break
		}
	}
}

// A target that has not yet noticed the gateway abandon a broken POST stream still holds it and
// answers a resumption 409 (the go-sdk does); the gateway waits for the target to let go rather
// than hand the client a conflict of its own making.
func TestResumeBrokenPostStreamWhileTargetStillHoldsIt(t *testing.T) {
	release := make(chan struct{})
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return resumableServer(release) }, &sdk.StreamableHTTPOptions{EventStore: sdk.NewMemoryEventStore(nil)})
	conflicts := make(chan int, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			// The target notices a client that left 300 ms late.
			ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
			defer cancel()
			stop := context.AfterFunc(r.Context(), func() { time.AfterFunc(300*time.Millisecond, cancel) })
			defer stop()
			r = r.WithContext(ctx)
		}
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if r.Method == http.MethodGet && rec.status == http.StatusConflict {
			conflicts <- rec.status
		}
	}))
	t.Cleanup(up.Close)
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))
	url := gw.URL + "/mcp"
	sid := initSession(t, url)

	ctx, cancel := context.WithCancel(ctxT(t))
	_, events := openStream(t, ctx, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow","arguments":{},"_meta":{"progressToken":"p1"}}}`)
	var last string
	for {
		ev := nextEvent(t, events)
		if ev.id != "" {
			last = ev.id
		}
		if strings.Contains(ev.data, "notifications/progress") {
			break
		}
	}
	cancel()
	for range events {
	}

	// Resumed while the tool still runs and the target still holds the stream; the tool ends once
	// the target has refused the resumption (or after 10 s, and the test fails).
	refused := make(chan bool, 1)
	go func() {
		select {
		case <-conflicts:
			refused <- true
		case <-time.After(10 * time.Second):
			refused <- false
		}
		close(release)
	}()
	resp, events := openStream(t, ctxT(t), http.MethodGet, url, sid, "", "Last-Event-ID", last)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for {
		ev := nextEvent(t, events)
		if !strings.Contains(ev.data, `"id":7`) {
			continue
		}
		var m struct {
			Result sdk.CallToolResult `json:"result"`
		}
		require.NoError(t, json.Unmarshal([]byte(ev.data), &m), ev.data)
		require.Equal(t, "done", text(t, &m.Result))
		break
	}
	require.True(t, <-refused, "the target refused the first resumption: the case under test happened")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Last-Event-ID values the gateway did not issue are refused with 400.
func TestResumeBadLastEventID(t *testing.T) {
	up := serveHTTP(t, demoServer("alpha"), nil)
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))
	url := gw.URL + "/mcp"
	sid := initSession(t, url)
	for _, id := range []string{"nope", "ghost/YQ", "alpha/!!", "alpha/", "alpha/YQ+alpha/YQ", "+alpha/YQ+alpha/Yg", "alpha/YQo"} {
		r := do(t, http.MethodGet, url, sid, "", "Last-Event-ID", id)
		require.Equal(t, http.StatusBadRequest, r.status, "%q: %s", id, r.body)
		code, _ := r.rpcError(t)
		require.Equal(t, -32600, code)
	}
}

// The GET stream merges every target's stream; its event ids carry each target's last event id,
// and a client that resumes it with Last-Event-ID gets what each target sent meanwhile.
func TestResumeBrokenGetStream(t *testing.T) {
	s := sdk.NewServer(&sdk.Implementation{Name: "alpha", Version: "1.0.0"}, &sdk.ServerOptions{Capabilities: &sdk.ServerCapabilities{Tools: &sdk.ToolCapabilities{ListChanged: true}}})
	store := &signalStore{MemoryEventStore: sdk.NewMemoryEventStore(nil), appended: make(chan struct{}, 100)}
	up := serveHTTP(t, s, &sdk.StreamableHTTPOptions{EventStore: store})
	other := serveHTTP(t, demoServer("beta"), nil)
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL), mcp.HTTPTarget("beta", other.URL)}}))
	url := gw.URL + "/mcp"
	sid := initSession(t, url)
	tools := 0
	addTool := func() {
		tools++
		s.AddTool(&sdk.Tool{Name: fmt.Sprintf("t%d", tools), InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{}, nil
		})
	}
	// waitChanged returns the event id of the next list_changed; with poll it adds tools until one
	// arrives (the first may precede the target's stream).
	waitChanged := func(events <-chan rawEvent, poll bool) string {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		if !poll {
			tick.Stop()
		}
		for {
			select {
			case ev, ok := <-events:
				require.True(t, ok, "stream ended")
				if strings.Contains(ev.data, "notifications/tools/list_changed") {
					require.True(t, strings.HasPrefix(ev.id, "+alpha/"), "event id %q", ev.id)
					return ev.id
				}
			case <-tick.C:
				addTool()
			case <-time.After(30 * time.Second):
				t.Fatal("no list_changed")
			}
		}
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	_, events := openStream(t, ctx, http.MethodGet, url, sid, "")
	last := waitChanged(events, true)
	cancel()
	for range events {
	}
	for len(store.appended) > 0 {
		<-store.appended
	}
	addTool() // while the client is away
	select {
	case <-store.appended: // stored at the target before the client comes back
	case <-time.After(30 * time.Second):
		t.Fatal("list_changed not sent")
	}
	_, events = openStream(t, ctxT(t), http.MethodGet, url, sid, "", "Last-Event-ID", last)
	// Replayed: nothing else would send one.
	require.NotEqual(t, last, waitChanged(events, false))
}

// signalStore is an EventStore that signals each list_changed it stores.
type signalStore struct {
	*sdk.MemoryEventStore
	appended chan struct{}
}

func (s *signalStore) Append(ctx context.Context, sessionID, streamID string, data []byte) error {
	err := s.MemoryEventStore.Append(ctx, sessionID, streamID, data)
	if strings.Contains(string(data), "list_changed") {
		s.appended <- struct{}{}
	}
	return err
}

// endlessSSETarget answers tools/call with the response event and then holds the stream open.
func endlessSSETarget() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&msg) != nil {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if msg.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		result := `{"content":[{"type":"text","text":"endless"}]}`
		switch msg.Method {
		case "initialize":
			w.Header().Set("Mcp-Session-Id", "s1")
			result = `{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"endless","version":"1"}}`
		case "tools/list":
			result = `{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}\n\n", msg.ID, result)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the stream never ends
	})
}

// The gateway reads on after an SSE answer's response only for a bounded time: a target that holds
// the stream open does not hold the call.
func TestSSEAnswerOfEndlessStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		hc   *http.Client
	}{{"built-in client", nil}, {"net/http client", &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}} {
		t.Run(tc.name, func(t *testing.T) {
			up := newHTTPServer(t, endlessSSETarget())
			gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}, HTTPClient: tc.hc}))
			cs := connectNoGET(t, gw.URL+"/mcp")
			for range 3 {
				res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "echo"})
				require.NoError(t, err)
				require.Equal(t, "endless", text(t, res))
			}
		})
	}
}

// cutProxy forwards TCP connections to addr until cut closes them all.
type cutProxy struct {
	ln    net.Listener
	addr  string
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t testing.TB, addr string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, addr: addr}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.cut(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(u, c); u.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// The go-sdk client resumes a tools/call stream that breaks, through the gateway: it reconnects
// with the last event id the gateway gave it and gets the response the target sent meanwhile.
func TestGoSDKClientResumesThroughGateway(t *testing.T) {
	release := make(chan struct{})
	up := serveHTTP(t, resumableServer(release), &sdk.StreamableHTTPOptions{EventStore: sdk.NewMemoryEventStore(nil)})
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))
	p := newCutProxy(t, strings.TrimPrefix(gw.URL, "http://"))
	progressed := make(chan struct{}, 1)
	c := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1.0.0"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *sdk.ProgressNotificationClientRequest) {
			select {
			case progressed <- struct{}{}:
			default:
			}
		},
	})
	cs, err := c.Connect(ctxT(t), &sdk.StreamableClientTransport{Endpoint: "http://" + p.ln.Addr().String() + "/mcp", DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	type result struct {
		res *sdk.CallToolResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		params := &sdk.CallToolParams{Name: "slow", Arguments: map[string]any{}}
		params.SetProgressToken("p1")
		res, err := cs.CallTool(ctxT(t), params)
		done <- result{res, err}
	}()
	select {
	case <-progressed:
	case <-time.After(30 * time.Second):
		t.Fatal("no progress")
	}
	p.cut() // the stream breaks
	close(release)
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, "done", text(t, r.res))
}

// An idle GET stream carries the gateway's keep-alive comments.
func TestIdleGetStreamIsKeptAlive(t *testing.T) {
	up := serveHTTP(t, demoServer("alpha"), nil)
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}, SSEKeepAlive: 10 * time.Millisecond}))
	url := gw.URL + "/mcp"
	sid := initSession(t, url)
	resp, events := openStream(t, ctxT(t), http.MethodGet, url, sid, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for range 2 {
		require.True(t, nextEvent(t, events).comment)
	}
}

// A stateless endpoint has no GET stream to resume with: it gives no event ids, and a client that
// goes away has cancelled.
func TestStatelessStreamHasNoEventIDs(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := serveHTTP(t, resumableServer(release), &sdk.StreamableHTTPOptions{EventStore: sdk.NewMemoryEventStore(nil)})
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}, Stateless: true}))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	_, events := openStream(t, ctx, http.MethodPost, gw.URL+"/mcp", "", `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"slow","arguments":{},"_meta":{"progressToken":"p1"}}}`)
	for {
		ev := nextEvent(t, events)
		require.Empty(t, ev.id)
		if strings.Contains(ev.data, "notifications/progress") {
			break
		}
	}
}
