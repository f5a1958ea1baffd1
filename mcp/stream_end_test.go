package mcp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// However a target ends the SSE stream of an answer — with the response (a sized body), with more
// events after the response, or some time later (the end of a chunked body once its handler returns,
// as a go-sdk server does) — the client gets the response and the gateway keeps its upstream
// connection: a stream that has ended is released at once, one that has not is drained first.
func TestSSEAnswerEndKeepsUpstreamConnection(t *testing.T) {
	event := func(id json.RawMessage, text string) string {
		return fmt.Sprintf("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":%q}]}}\n\n", id, text)
	}
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter, id json.RawMessage)
	}{
		{"ended with the response", func(w http.ResponseWriter, id json.RawMessage) {
			b := event(id, "ok")
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			_, _ = fmt.Fprint(w, b)
		}},
		{"events after the response", func(w http.ResponseWriter, id json.RawMessage) {
			_, _ = fmt.Fprint(w, event(id, "ok"), ": still here\n\n", "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"late\"}}\n\n")
		}},
		{"ended later", func(w http.ResponseWriter, id json.RawMessage) {
			_, _ = fmt.Fprint(w, event(id, "ok"))
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond) // the end of the chunked body comes after the response
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(mcp.SetDrainWait(time.Minute))
			up, conns := serveCounted(t, scriptedTarget("alpha", func(w http.ResponseWriter, r *http.Request, id json.RawMessage, method string) (string, bool) {
				if method != "tools/call" {
					return `{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`, false
				}
				w.Header().Set("Content-Type", "text/event-stream")
				tc.write(w, id)
				return "", true
			}))
			f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}})
			cs := connectNoGET(t, gateway(t, f).URL+"/mcp")
			params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{}}
			_, err := cs.CallTool(ctxT(t), params) // warm-up: the connection of the calls
			require.NoError(t, err)
			before := conns.n.Load()
			for range 5 {
				res, err := cs.CallTool(ctxT(t), params)
				require.NoError(t, err)
				require.Equal(t, "ok", text(t, res))
			}
			require.Zero(t, conns.n.Load()-before, "new upstream connections")
		})
	}
}
