package config_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// schemaDefs reads the agentgateway JSON schema from the shared reference folder beside the
// repository (AGW_SCHEMA overrides the path).
func schemaDefs(t *testing.T) map[string]map[string]any {
	t.Helper()
	path := os.Getenv("AGW_SCHEMA")
	if path == "" {
		path = filepath.Join("..", "..", "shared", "agentgateway-schema", "config.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("agentgateway schema not found (%v); set AGW_SCHEMA", err)
	}
	var doc struct {
		Defs map[string]map[string]any `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc.Defs
}

func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// Every key of the schema's RawConfig is either honoured (a Settings field) or refused as not
// supported yet, never both and never neither: a key added to the schema fails this test until it is
// classified, so it cannot be dropped silently.
func TestEveryRawConfigKeyIsHonouredOrRefused(t *testing.T) {
	defs := schemaDefs(t)
	props := defs["RawConfig"]["properties"].(map[string]any)
	honoured := jsonNames(reflect.TypeFor[config.Settings]())
	for key := range props {
		h, r := slices.Contains(honoured, key), slices.Contains(config.UnsupportedSettings, key)
		require.Truef(t, h != r, "config.%s: honoured=%v refused=%v", key, h, r)
		if r {
			_, err := config.Load([]byte("config:\n  "+key+": null\n"), nil)
			require.ErrorIs(t, err, config.ErrUnsupported, key)
			require.ErrorContains(t, err, "config."+key+": ")
		}
	}
	for _, key := range slices.Concat(honoured, config.UnsupportedSettings) {
		require.Contains(t, props, key, "a key the schema does not have")
	}
	// frontendPolicies: every key is a field or refused too.
	fp := defs["LocalFrontendPolicies"]["properties"].(map[string]any)
	fields := append(jsonNames(reflect.TypeFor[config.FrontendPolicies]()), "logging", "proxy") // aliases
	for key := range fp {
		if !slices.Contains(fields, key) {
			_, err := config.Load([]byte("frontendPolicies:\n  "+key+": {}\n"), nil)
			require.ErrorIs(t, err, config.ErrUnsupported, key)
			require.ErrorContains(t, err, "frontendPolicies."+key+": ")
		}
	}
}

func TestSettingsDecode(t *testing.T) {
	f, err := config.Load([]byte(`
config:
  adminAddr: 127.0.0.1:1
  statsAddr: "off"
  readinessAddr: 127.0.0.1:3
  session: {key: "`+strings.Repeat("ab", 32)+`"}
  mcp: {sessionTtl: 5m}
  sensitiveHeaders: [x-secret]
  connectionTerminationDeadline: 7s
  histograms: native
  tracing:
    otlpEndpoint: http://127.0.0.1:4317
    otlpProtocol: grpc
    headers: {x-tenant: t1}
    randomSampling: "0.25"
    clientSampling: false
    fields: {add: {team: 'request.headers["x-team"]'}, remove: [source]}
  logging:
    level: debug
    format: json
    filter: 'request.path != "/healthz"'
    fields: {add: {tool: mcp.tool.name}, remove: [bytes_in]}
  metrics: {remove: [http.server.request.duration]}
frontendPolicies:
  accessLog: {add: {who: identity}, filter: "response.code >= 400"}
  http: {http1IdleTimeout: 1m, http2WindowSize: 65535}
`), nil)
	require.NoError(t, err)
	s := f.Settings
	assert.Equal(t, "127.0.0.1:1", s.AdminListen())
	assert.Equal(t, "off", s.StatsListen())
	assert.Equal(t, "127.0.0.1:3", s.ReadinessListen())
	key, err := s.SessionKey()
	require.NoError(t, err)
	assert.Len(t, key, 32)
	assert.Equal(t, 5*time.Minute, s.MCP.SessionTTL)
	assert.True(t, s.SensitiveHeaderSet()["x-secret"])
	assert.True(t, s.SensitiveHeaderSet()["authorization"])
	assert.Equal(t, 7*time.Second, s.ConnectionTerminationDeadline)
	assert.Equal(t, 0.25, s.Tracing.RandomSampling.Ratio)
	assert.Equal(t, 0.0, s.Tracing.ClientSampling.Ratio)
	assert.Equal(t, slog.LevelDebug, s.Logging.Level.Level)
	assert.Equal(t, "json", s.Logging.Format)
	assert.Equal(t, "who", slices.Collect(mapsKeys(f.Frontend.AccessLog.Add))[0])
	var srv http.Server
	f.Frontend.ServerConfig()(&srv)
	assert.Equal(t, time.Minute, srv.IdleTimeout)
	assert.Equal(t, 65535, srv.HTTP2.MaxReceiveBufferPerStream)

	// Defaults.
	f, err = config.Load([]byte("config: {}\n"), nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:15000", f.Settings.AdminListen())
	assert.Equal(t, "127.0.0.1:15020", f.Settings.StatsListen())
	assert.Equal(t, "127.0.0.1:15021", f.Settings.ReadinessListen())
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Misspelt, mistyped, invalid and unsupported keys of config and frontendPolicies are rejected with
// their path (and line).
func TestSettingsErrors(t *testing.T) {
	for name, c := range map[string]struct{ yaml, want string }{
		"misspelt key":           {"config:\n  adminAdr: x\n", `config.adminAdr: unknown field "adminAdr" (line 2)`},
		"misspelt nested":        {"config:\n  logging: {fromat: json}\n", `config.logging.fromat: unknown field "fromat"`},
		"wrong type":             {"config:\n  sensitiveHeaders: x-a\n", `config.sensitiveHeaders: want a list`},
		"bad duration":           {"config:\n  mcp: {sessionTtl: soon}\n", `config.mcp.sessionTtl: invalid duration "soon"`},
		"not an object":          {"config: 3\n", `config: want an object`},
		"unsupported":            {"config:\n  caAddress: https://ca:15012\n", `config.caAddress: config.caAddress is not supported yet`},
		"xds without gateway":    {"config:\n  xdsAddress: https://xds:15010\n", `config.gateway: is required when config.xdsAddress is set`},
		"unsupported mesh":       {"config:\n  spiffe: {}\n", `config.spiffe: config.spiffe is not supported yet`},
		"session key not hex":    {"config:\n  session: {key: nothex}\n", `config.session.key: want 64 hex digits`},
		"session key short":      {"config:\n  session: {key: abcd}\n", `config.session.key: want a 32-byte AES-256-GCM key`},
		"format":                 {"config:\n  logging: {format: xml}\n", `config.logging.format: unknown format "xml"`},
		"level":                  {"config:\n  logging: {level: loud}\n", `config.logging.level: unknown level "loud"`},
		"per-module level":       {"config:\n  logging: {level: 'info,rmcp=trace'}\n", `config.logging.level: per-module level "rmcp=trace" is not supported`},
		"filter CEL":             {"config:\n  logging: {filter: 'request.path =='}\n", `config.logging.filter:`},
		"filter not bool":        {"config:\n  logging: {filter: '1 + 2'}\n", `config.logging.filter:`},
		"field CEL":              {"config:\n  logging: {fields: {add: {x: '1 +'}}}\n", `config.logging.fields.add.x:`},
		"protocol":               {"config:\n  tracing: {otlpEndpoint: x:1, otlpProtocol: udp}\n", `config.tracing.otlpProtocol: unknown protocol "udp"`},
		"no endpoint":            {"config:\n  tracing: {headers: {a: b}}\n", `config.tracing.otlpEndpoint: required`},
		"sampling CEL":           {"config:\n  tracing: {otlpEndpoint: x:1, randomSampling: 'nosuch('}\n", `config.tracing.randomSampling`},
		"sampling range":         {"config:\n  tracing: {otlpEndpoint: x:1, randomSampling: 2}\n", `config.tracing.randomSampling: ratio 2 out of range`},
		"histograms both":        {"config:\n  histograms: both\n", `config.histograms: "both" is not supported yet`},
		"metric fields":          {"config:\n  metrics: {fields: {add: {a: 'nosuch('}}}\n", `config.metrics.fields.add.a`},
		"networkExtAuthz host":   {"frontendPolicies:\n  networkExtAuthz: {}\n", `frontendPolicies.networkExtAuthz.host: required`},
		"frontend misspelt":      {"frontendPolicies:\n  accesLog: {}\n", `frontendPolicies.accesLog: unknown field "accesLog"`},
		"accessLog otlp":         {"frontendPolicies:\n  accessLog: {otlp: {host: x, protocol: udp}}\n", `frontendPolicies.accessLog.otlp.protocol: unknown protocol "udp"`},
		"accessLog and logging":  {"frontendPolicies:\n  accessLog: {}\n  logging: {}\n", `frontendPolicies.logging: set accessLog or logging, not both`},
		"accessLog filter CEL":   {"frontendPolicies:\n  accessLog: {filter: '('}\n", `frontendPolicies.accessLog.filter:`},
		"tracing service":        {"frontendPolicies:\n  tracing: {service: {name: a, port: 1}}\n", `frontendPolicies.tracing.service: frontendPolicies.tracing.service is not supported yet`},
		"tracing no host":        {"frontendPolicies:\n  tracing: {attributes: {a: '\"b\"'}}\n", `frontendPolicies.tracing.host: required`},
		"http unsupported":       {"frontendPolicies:\n  http: {http1HeaderCase: preserve}\n", `frontendPolicies.http.http1HeaderCase: frontendPolicies.http.http1HeaderCase is not supported yet`},
		"http wrong type":        {"frontendPolicies:\n  http: {http2WindowSize: -1}\n", `frontendPolicies.http.http2WindowSize: want a non-negative integer`},
		"sensitive header empty": {"config:\n  sensitiveHeaders: ['']\n", `config.sensitiveHeaders[0]: invalid header name`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load([]byte(c.yaml), nil)
			require.Error(t, err)
			require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

// hostSwitch sends every request to the host in to: a client that keeps its session id while the
// replica behind it changes.
type hostSwitch struct{ to atomic.Pointer[string] }

func (h *hostSwitch) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = *h.to.Load()
	r.Host = r.URL.Host
	return http.DefaultTransport.RoundTrip(r)
}

const replicaYAML = `
config:
  session: {key: "%s"}
binds:
- port: 1
  listeners:
  - routes:
    - backends:
      - mcp:
          targets:
          - name: one
            mcp: {host: $ONE}
`

// Two replicas given the same config.session.key continue one MCP session: a client opens it on
// replica A and calls a tool on replica B with the same session id. A replica with another key does
// not know the session (404), which shows the key is the one from the file.
func TestSessionKeyContinuesSessionAcrossReplicas(t *testing.T) {
	up := mcpUpstream(t, "one")
	env := map[string]string{"ONE": up}
	key := strings.Repeat("1f", 32)
	a := serveConfig(t, strings.Replace(replicaYAML, "%s", key, 1), env)
	b := serveConfig(t, strings.Replace(replicaYAML, "%s", key, 1), env)
	other := serveConfig(t, strings.Replace(replicaYAML, "%s", strings.Repeat("2e", 32), 1), env)
	host := func(u string) *string { p, _ := url.Parse(u); return &p.Host }

	sw := &hostSwitch{}
	sw.to.Store(host(a))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: a, HTTPClient: &http.Client{Transport: sw}, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
	require.NoError(t, err)
	require.Equal(t, "one/echo", res.Content[0].(*sdk.TextContent).Text)

	sw.to.Store(host(b))
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
	require.NoError(t, err, "replica B continues the session replica A opened")
	require.Equal(t, "one/echo", res.Content[0].(*sdk.TextContent).Text)

	sw.to.Store(host(other))
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
	require.Error(t, err, "a replica with another key does not open the session id")
}

// config.mcp.sessionTtl is the MCP backends' idle timeout: a session idle past it is gone.
func TestMCPSessionTTL(t *testing.T) {
	up := mcpUpstream(t, "one")
	yaml := strings.Replace(replicaYAML, "  session: {key: \"%s\"}", "  mcp: {sessionTtl: 200ms}", 1)
	gw := serveConfig(t, yaml, map[string]string{"ONE": up})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: gw, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer cs.Close()
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
		return err != nil
	}, 10*time.Second, 400*time.Millisecond, "the session never expired")
}
