package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

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
		HTTPClient:           &http.Client{Transport: handlerTransport{h}},
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
