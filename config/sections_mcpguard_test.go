package config_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

// guardUpstream serves one tool, echo, that answers with the message it received and a demo secret,
// and counts its calls.
func guardUpstream(t *testing.T, calls *atomic.Int32) string {
	s := sdk.NewServer(&sdk.Implementation{Name: "guarded", Version: "1"}, nil)
	type args struct {
		Message string `json:"message"`
	}
	sdk.AddTool(s, &sdk.Tool{Name: "echo"}, func(ctx context.Context, req *sdk.CallToolRequest, a args) (*sdk.CallToolResult, any, error) {
		calls.Add(1)
		return &sdk.CallToolResult{Content: []sdk.Content{
			&sdk.TextContent{Text: "got: " + a.Message},
			&sdk.TextContent{Text: "token demo-secret-abc and demo-secret-xyz"},
		}}, nil, nil
	})
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(ts.Close)
	return ts.URL
}

// The shape of agentgateway's examples/mcp-guardrails: deny first, then mask the request, then mask
// the response.
const guardYAML = `
mcp:
  port: 3000
  policies:
    mcpGuardrails:
      processors:
      - kind: KIND
        methods: {"tools/call": request}
        when: >-
          mcp.params.name == 'echo' && has(mcp.params.arguments) && has(mcp.params.arguments.message) &&
          mcp.params.arguments.message.contains('DO_NOT_SEND')
        reject: "Messages containing DO_NOT_SEND may not be sent upstream"
      - kind: KIND
        methods: {"tools/*": request}
        when: mcp.params.name == 'echo' && has(mcp.params.arguments) && has(mcp.params.arguments.message)
        transform: >-
          mcp.params.with(p, p.merge({'arguments': p.arguments.merge({
            'message': p.arguments.message.regexReplaceAll('[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}', '[EMAIL]')
          })}))
      - kind: KIND
        methods: {"tools/call": response}
        when: has(mcp.result.content)
        transform: >-
          mcp.result.with(r, r.merge({'content': r.content.map(item,
            item.type == 'text' ? item.merge({'text': item.text.regexReplaceAll('demo-secret-[A-Za-z0-9]+', '[SECRET]')}) : item)}))
  targets:
  - name: up
    mcp:
      host: UPSTREAM
`

func TestMCPGuardrailsServed(t *testing.T) {
	for _, kind := range []string{"cel", "expression"} {
		t.Run(kind, func(t *testing.T) {
			var calls atomic.Int32
			yaml := strings.NewReplacer("KIND", kind, "UPSTREAM", guardUpstream(t, &calls)).Replace(guardYAML)
			url := serveConfig(t, yaml, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url + "/mcp"}, nil)
			require.NoError(t, err)
			defer cs.Close()

			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{
				"message": "Contact alice@example.com and bob@example.org",
			}})
			require.NoError(t, err)
			require.Len(t, res.Content, 2)
			assert.Equal(t, "got: Contact [EMAIL] and [EMAIL]", res.Content[0].(*sdk.TextContent).Text, "the request was masked before the target saw it")
			assert.Equal(t, "token [SECRET] and [SECRET]", res.Content[1].(*sdk.TextContent).Text, "the response was masked before the client saw it")
			assert.EqualValues(t, 1, calls.Load())

			_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "DO_NOT_SEND alice@example.com"}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Messages containing DO_NOT_SEND may not be sent upstream")
			assert.EqualValues(t, 1, calls.Load(), "a rejected call never reaches the target")

			// Methods no processor names pass untouched.
			tools, err := cs.ListTools(ctx, nil)
			require.NoError(t, err)
			require.Len(t, tools.Tools, 1)
		})
	}
}

// A transform that does not give an object, or an expression that fails, rejects the call rather than
// forwarding something the gateway did not mean to.
func TestMCPGuardrailsFailClosed(t *testing.T) {
	for name, proc := range map[string]string{
		"transform not an object": `{kind: cel, methods: {"*": request}, transform: "'oops'"}`,
		"when fails":              `{kind: cel, methods: {"*/call": full}, when: "mcp.params.nope.deeper == 1", reject: "x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			yaml := `
mcp:
  port: 3000
  policies:
    mcpGuardrails:
      processors: [` + proc + `]
  targets:
  - name: up
    mcp: {host: ` + guardUpstream(t, &calls) + `}
`
			url := serveConfig(t, yaml, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url + "/mcp"}, nil)
			require.NoError(t, err)
			defer cs.Close()
			_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi"}})
			require.Error(t, err)
			assert.Zero(t, calls.Load())
		})
	}
}

func TestMCPGuardrailsConfigErrors(t *testing.T) {
	base := `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        mcpGuardrails:
          processors:
          - PROC
      backends:
      - mcp: {targets: [{name: a, mcp: {host: "http://127.0.0.1:1/mcp"}}]}
`
	cases := map[string]struct{ proc, path string }{
		"remote":        {`{kind: remote, host: "127.0.0.1:9000", methods: {"*": full}}`, "policies.mcpGuardrails.processors[0].kind"},
		"both":          {`{kind: cel, methods: {"*": full}, reject: "no", transform: "null"}`, "processors[0]"},
		"neither":       {`{kind: cel, methods: {"*": full}}`, "processors[0]"},
		"bad phase":     {`{kind: cel, methods: {"*": sometimes}, reject: "no"}`, `processors[0].methods["*"]`},
		"no methods":    {`{kind: cel, reject: "no"}`, "processors[0].methods"},
		"bad when":      {`{kind: cel, methods: {"*": full}, when: "mcp.params ==", reject: "no"}`, "processors[0].when"},
		"unknown kind":  {`{kind: webhook, methods: {"*": full}, reject: "no"}`, "processors[0].kind"},
		"remote fields": {`{kind: cel, host: "x:1", methods: {"*": full}, reject: "no"}`, "processors[0]"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load([]byte(strings.Replace(base, "PROC", c.proc, 1)), nil)
			if err == nil {
				_, err = f.Build(nil)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.path)
			if name == "remote" {
				assert.True(t, errors.Is(err, config.ErrUnsupported), err.Error())
			}
		})
	}
}

// On a route backend's policies (backendPolicies.mcpGuardrails) the guardrails guard that backend.
func TestMCPGuardrailsBackendPolicy(t *testing.T) {
	var calls atomic.Int32
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - mcp:
          targets:
          - name: up
            mcp: {host: ` + guardUpstream(t, &calls) + `}
        policies:
          mcpGuardrails:
            processors:
            - kind: cel
              methods: {"tools/call": request}
              when: mcp.params.arguments.message == "forbidden"
              reject: "not that"
`
	url := serveConfig(t, yaml, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url}, nil)
	require.NoError(t, err)
	defer cs.Close()
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "forbidden"}})
	require.ErrorContains(t, err, "not that")
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "fine"}})
	require.NoError(t, err)
	assert.Equal(t, "got: fine", res.Content[0].(*sdk.TextContent).Text)
	assert.EqualValues(t, 1, calls.Load())
}
