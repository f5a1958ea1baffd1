package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serverToolsMCPEndpoint is the URL the in-process MCP client uses; only its path matters to the
// backend handler, and "localhost" passes a federation's DNS-rebinding check.
const serverToolsMCPEndpoint = "http://localhost/mcp"

// mcpSession is one MCP client session against a configured backend handler, opened for one client
// request and closed when the tool loop ends.
type mcpSession struct {
	cs    *mcp.ClientSession
	tools map[string]*mcp.Tool
}

// connectMCP opens a go-sdk client session to h, served in process (no socket): the gateway's own
// MCP machinery (federation, target policies) answers the calls.
func connectMCP(ctx context.Context, h http.Handler) (*mcpSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "agentgateway-server-tools", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:             serverToolsMCPEndpoint,
		HTTPClient:           &http.Client{Transport: mcpHandlerTransport{h}},
		MaxRetries:           -1,
		DisableStandaloneSSE: true, // no idle GET stream to keep alive for a single turn
	}
	cs, err := c.Connect(ctx, tr, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: connect: %w", ErrServerTool, err)
	}
	return &mcpSession{cs: cs}, nil
}

// tool returns the backend's definition of the named tool (listed once per session).
func (s *mcpSession) tool(ctx context.Context, name string) (*mcp.Tool, error) {
	if s.tools == nil {
		s.tools = map[string]*mcp.Tool{}
		for t, err := range s.cs.Tools(ctx, nil) {
			if err != nil {
				return nil, fmt.Errorf("%w: tools/list: %w", ErrServerTool, err)
			}
			s.tools[t.Name] = t
		}
	}
	t := s.tools[name]
	if t == nil {
		return nil, fmt.Errorf("%w: the MCP backend has no tool %q", ErrServerTool, name)
	}
	return t, nil
}

func (s *mcpSession) call(ctx context.Context, name string, args json.RawMessage) (*mcp.CallToolResult, error) {
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage(`{}`)
	}
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return nil, fmt.Errorf("%w: tool %q: %w", ErrServerTool, name, err)
	}
	return res, nil
}

func (s *mcpSession) close() { _ = s.cs.Close() }

// mcpHandlerTransport serves HTTP requests with an in-process handler; the response body streams
// through a pipe so SSE answers work, and closing it cancels the handler.
type mcpHandlerTransport struct{ h http.Handler }

func (t mcpHandlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	pr, pw := io.Pipe()
	w := newPipeResponseWriter(pw)
	in := req.Clone(ctx)
	if in.Body == nil {
		in.Body = http.NoBody
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if p := recover(); p != nil {
				w.WriteHeader(http.StatusInternalServerError)
				pw.CloseWithError(fmt.Errorf("mcp handler panicked: %v", p))
				return
			}
			w.finish()
			pw.Close()
		}()
		t.h.ServeHTTP(w, in)
	}()
	select {
	case <-w.headerDone:
	case <-ctx.Done():
		// Not waiting for the handler: a backend may finish a running tool call before it notices;
		// its writes then fail on the closed pipe and it returns.
		cancel()
		pr.CloseWithError(ctx.Err())
		return nil, ctx.Err()
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: &mcpHandlerBody{pr: pr, cancel: cancel, wg: &wg}, Request: req, ContentLength: -1,
	}, nil
}

// mcpHandlerBody is an in-process response body: Close stops the handler and waits for it, so no
// goroutine outlives the response.
type mcpHandlerBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	wg     *sync.WaitGroup
	once   sync.Once
}

func (b *mcpHandlerBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *mcpHandlerBody) Close() error {
	b.once.Do(func() {
		b.cancel()
		b.pr.CloseWithError(errors.New("response body closed"))
		b.wg.Wait()
	})
	return nil
}
