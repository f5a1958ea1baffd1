package policy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
	"github.com/agentgw/agentgateway/policy"
)

// An MCP route protected by an OAuth authorization server: the route matches the MCP path and the
// well-known metadata paths, which the policy answers; requests without a token get the 401 that
// points MCP clients at the metadata.
func ExampleNewMCPAuthentication() {
	tools := sdk.NewServer(&sdk.Implementation{Name: "tools", Version: "1.0.0"}, nil)
	f := mcp.Federate(mcp.ServerTarget("tools", tools))
	defer f.Close()

	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	err := gw.Route("mcp").Path("/mcp").Or().PathPrefix(policy.ProtectedResourcePath).
		Policy(policy.NewMCPAuthentication(policy.MCPAuthConfig{
			Issuer:    "https://auth.example.com/realms/mcp",
			Audiences: []string{"mcp-gateway"},
			Provider:  policy.MCPProviderKeycloak, // JWKS: <issuer>/protocol/openid-connect/certs
			ResourceMetadata: map[string]any{
				"resource":        "https://mcp.example.com/mcp",
				"scopesSupported": []string{"openid", "profile"},
			},
		})).
		To(f)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	resp, _ := http.Post(srv.URL+"/mcp", "application/json", nil)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/.well-known/oauth-protected-resource/mcp", nil)
	resp, _ = http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	// Output:
	// 401 Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	// {"authorization_servers":["https://mcp.example.com/mcp"],"mcp_protocol_version":"2025-06-18","resource":"https://mcp.example.com/mcp","resource_type":"mcp-server","scopes_supported":["openid","profile"]}
}
