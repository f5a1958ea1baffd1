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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := agentgateway.StateFrom(r.Context())
		if st == nil || st.MCP.Method == "" {
			next.ServeHTTP(w, r)
			return
		}
		passed := false
		inner := m.rl.wrap(http.HandlerFunc(func(_ http.ResponseWriter, r2 *http.Request) {
			passed = true
			next.ServeHTTP(w, r2)
		}), true)
		// The limiter's own answer (429 or 500) is held back and rewritten as JSON-RPC; the headers
		// it set (X-RateLimit-*, Retry-After) are the real writer's.
		held := &heldWriter{h: w.Header()}
		inner.ServeHTTP(held, r)
		if passed {
			return
		}
		status := held.status
		msg := "rate limit exceeded"
		if status != http.StatusTooManyRequests {
			status, msg = http.StatusInternalServerError, "rate limit service unavailable"
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Del("Content-Length")
		w.WriteHeader(status)
		_, _ = w.Write(rpcmsg.Error(requestID(r), CodeRateLimited, msg))
	})
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

// heldWriter keeps the status the limiter answers with and drops its body.
type heldWriter struct {
	h      http.Header
	status int
}

func (h *heldWriter) Header() http.Header { return h.h }

func (h *heldWriter) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}

func (h *heldWriter) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}
