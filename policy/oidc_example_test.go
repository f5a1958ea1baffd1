package policy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

// A web app behind browser login: a navigation without a session is sent to the provider (PKCE,
// state and nonce included), a script's request gets 401, and once logged in the ID token's claims
// are jwt.* for authorization. The route matches everything, so the callback (/oauth/callback) and
// logout (/oauth/logout) paths reach the policy.
func ExampleNewOIDC() {
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	err := gw.Route("app").PathPrefix("/").
		Policy(policy.NewOIDC(policy.OIDCConfig{
			Issuer:       "https://idp.example.com",
			ClientID:     "web-app",
			ClientSecret: "s3cret", // e.g. from os.Getenv or a file; never logged
			RedirectURI:  "https://app.example.com/oauth/callback",
			Scopes:       []string{"email"},
			// Explicit mode; without these three the provider is discovered from the issuer.
			AuthorizationEndpoint: "https://idp.example.com/authorize",
			TokenEndpoint:         "https://idp.example.com/token",
			JWKS:                  policy.JWKS{URL: "https://idp.example.com/jwks"},
			CookieKey:             []byte("0123456789abcdef0123456789abcdef"), // shared by replicas
		})).
		Policy(policy.NewAuthorization(policy.AuthorizationConfig{Rules: []cel.Rule{cel.Allow(`jwt.email.endsWith("@example.com")`)}})).
		To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") }))
	if err != nil {
		panic(err)
	}

	nav := httptest.NewRequest(http.MethodGet, "https://app.example.com/reports?q=1", nil)
	nav.Header.Set("Sec-Fetch-Mode", "navigate")
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, nav)
	loc, _ := url.Parse(w.Header().Get("Location"))
	q := loc.Query()
	fmt.Println(w.Code, loc.Host+loc.Path, q.Get("scope"), q.Get("code_challenge_method"), q.Has("state"), q.Has("nonce"))

	xhr := httptest.NewRequest(http.MethodGet, "https://app.example.com/api/reports", nil)
	xhr.Header.Set("Sec-Fetch-Mode", "cors")
	w = httptest.NewRecorder()
	gw.ServeHTTP(w, xhr)
	fmt.Println(w.Code)
	// Output:
	// 302 idp.example.com/authorize openid email S256 true true
	// 401
}
