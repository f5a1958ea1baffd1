package agentgateway_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The instruments the gateway, mcp, a2a and the policies register, by OpenTelemetry name, with how
// the OpenTelemetry Prometheus exporter names them.
var promNames = map[string][]string{
	"http.server.request.duration":         histogram("http_server_request_duration_seconds"),
	"mcp.server.operation.duration":        histogram("mcp_server_operation_duration_seconds"),
	"mcp.client.operation.duration":        histogram("mcp_client_operation_duration_seconds"),
	"a2a.server.request.duration":          histogram("a2a_server_request_duration_seconds"),
	"gen_ai.client.operation.duration":     histogram("gen_ai_client_operation_duration_seconds"),
	"gen_ai.client.token.usage":            histogram("gen_ai_client_token_usage"),
	"gen_ai.server.time_to_first_token":    histogram("gen_ai_server_time_to_first_token_seconds"),
	"agentgateway.gen_ai.cost":             {"agentgateway_gen_ai_cost_total"},
	"agentgateway.retries":                 {"agentgateway_retries_total"},
	"agentgateway.ratelimit.decisions":     {"agentgateway_ratelimit_decisions_total"},
	"agentgateway.authz.denials":           {"agentgateway_authz_denials_total"},
	"agentgateway.upstream.connect_errors": {"agentgateway_upstream_connect_errors_total"},
	"agentgateway.upstream.ejections":      {"agentgateway_upstream_ejections_total"},
	"agentgateway.mcp.sessions":            {"agentgateway_mcp_sessions"},
	"agentgateway.mcp.streams":             {"agentgateway_mcp_streams"},
	"agentgateway.a2a.streams":             {"agentgateway_a2a_streams"},
}

func histogram(base string) []string {
	return []string{base + "_bucket", base + "_sum", base + "_count"}
}

// The shipped Grafana dashboard is valid JSON, its panels have distinct ids, and every metric its
// queries read is one the gateway exports (a renamed instrument must not leave a panel empty).
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("dashboards/agentgateway.json")
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	known := map[string]bool{}
	for _, names := range promNames {
		for _, n := range names {
			known[n] = true
		}
	}
	ids := map[int]bool{}
	metric := regexp.MustCompile(`[a-z_][a-z0-9_]*(_bucket|_sum|_count|_total|_sessions|_streams)\b`)
	used := map[string]bool{}
	queries := 0
	for _, p := range d.Panels {
		require.False(t, ids[p.ID], "duplicate panel id %d", p.ID)
		ids[p.ID] = true
		for _, tg := range p.Targets {
			queries++
			for _, m := range metric.FindAllString(tg.Expr, -1) {
				require.True(t, known[m], "panel %q reads %s, which nothing exports", p.Title, m)
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] = true
			}
		}
	}
	require.Greater(t, queries, 20)
	for _, need := range []string{"http_server_request_duration_seconds", "mcp_server_operation_duration_seconds",
		"gen_ai_client_token_usage", "agentgateway_gen_ai_cost_total"} {
		require.True(t, used[need], "no panel reads %s", need)
	}
}
