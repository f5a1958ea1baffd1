package remoteratelimit

import (
	"encoding/json"
	"io"
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
)

// CodeRateLimited is the JSON-RPC error code of an MCP call refused by [Limiter.MCP] (an
// implementation-defined server error, JSON-RPC 2.0 section 5.1).
const CodeRateLimited = -32029

// maxIDBody bounds what is read of a refused call's body to find its JSON-RPC id.
const maxIDBody = 1 << 20

// MCP is the limiter as agentgateway's `mcpRemoteRateLimit`: it counts MCP calls only (requests
// whose JSON-RPC method package mcp put in State.MCP, so descriptors can read mcp.tool.name and
// mcp.method), after the route's authorization. A descriptor with an entry that is empty for the call
// (mcp.tool.name of a tools/list) is skipped, as agentgateway skips one that names a field the call
// lacks. A refused call is answered as JSON-RPC: 429 with an
// error object carrying the call's id and the service's rate-limit headers, or 500 when the service
// fails and the failure mode is failClosed. Other requests (the GET stream, DELETE) pass uncounted.
func (rl *Limiter) MCP() agentgateway.Policy { return mcpLimiter{rl} }

type mcpLimiter struct{ rl *Limiter }

func (m mcpLimiter) Phase() agentgateway.Phase { return agentgateway.PhaseRateLimit }

func (m mcpLimiter) Provision(svc agentgateway.Services) error { return m.rl.Provision(svc) }

func (m mcpLimiter) Close() error { return m.rl.Close() }

func (m mcpLimiter) Wrap(next http.Handler) http.Handler {
	limited := m.rl.wrap(next, true, writeRPCRefusal)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := agentgateway.StateFrom(r.Context()); st == nil || st.MCP.Method == "" {
			next.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

// writeRPCRefusal answers a refused MCP call as a JSON-RPC error carrying the call's id.
func writeRPCRefusal(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(rpcmsg.Error(requestID(r), CodeRateLimited, msg))
}

// requestID is the raw JSON id of a single JSON-RPC request body (nil for a batch, a notification or
// a body that is not JSON-RPC). The body is not forwarded afterwards: the call was refused.
func requestID(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxIDBody))
	if err != nil {
		return nil
	}
	var msg struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(b, &msg) != nil || len(msg.ID) == 0 {
		return nil
	}
	switch msg.ID[0] {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return msg.ID // a string or a number, as JSON-RPC allows
	}
	return nil
}
