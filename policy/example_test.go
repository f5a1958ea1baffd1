package policy_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

func ExampleNewCORS() {
	cors, err := policy.NewCORS(policy.CORSConfig{
		AllowOrigins: []string{"https://app.example.com"},
		AllowMethods: []string{"GET", "POST"},
		AllowHeaders: []string{"Authorization"},
	})
	if err != nil {
		panic(err)
	}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Println("backend reached") })
	r := httptest.NewRequest("OPTIONS", "/mcp", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	w := httptest.NewRecorder()
	cors.Wrap(backend).ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Access-Control-Allow-Origin"), w.Header().Get("Access-Control-Allow-Methods"))
	// Output: 200 https://app.example.com GET, POST
}

func ExampleNewAPIKey() {
	apiKey, err := policy.NewAPIKey(policy.APIKeyConfig{
		Mode: policy.ModeStrict,
		Keys: []policy.APIKey{{Key: "sk-123", Metadata: map[string]any{"name": "ci-bot", "tier": "gold"}}},
	})
	if err != nil {
		panic(err)
	}
	// Authorization reads the identity the API key policy recorded.
	authz, err := policy.NewAuthorization(policy.AuthorizationConfig{Rules: []cel.Rule{cel.Allow(`apiKey.tier == "gold"`)}})
	if err != nil {
		panic(err)
	}
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	gw.Route("api").PathPrefix("/").Use(apiKey, authz).To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", agentgateway.StateFrom(r.Context()).Identity.Subject)
	}))
	for _, key := range []string{"sk-123", "wrong"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 200 hello ci-bot
	// 401 {"error":{"code":401,"message":"invalid API key"}}
}

func ExampleNewLocalRateLimit() {
	limit, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{
		{MaxTokens: 2, TokensPerFill: 1, FillInterval: time.Minute, Key: `request.headers["x-user"]`},
	}})
	if err != nil {
		panic(err)
	}
	h := limit.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for i := 0; i < 3; i++ {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-User", "alice")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d retry-after=%q policy=%q\n", w.Code, w.Header().Get("Retry-After"), w.Header().Get("RateLimit-Policy"))
	}
	// Output:
	// 200 retry-after="" policy=""
	// 200 retry-after="" policy=""
	// 429 retry-after="60" policy="\"local\";q=1;w=60"
}

func ExampleNewTimeout() {
	timeout, err := policy.NewTimeout(policy.TimeoutConfig{RequestTimeout: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	w := httptest.NewRecorder()
	timeout.Wrap(slow).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Println(w.Code)
	// Output: 504
}

func ExampleNewJWT() {
	// The issuer's key pair; in production the JWKS comes from {url: https://issuer/.well-known/jwks.json}.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "k1", Use: "sig"}}})
	jwt, err := policy.NewJWT(policy.JWTConfig{
		Mode: policy.ModeStrict,
		Providers: []policy.JWTProvider{{
			Issuer:    "https://issuer.example",
			Audiences: []string{"mcp"},
			JWKS:      policy.JWKS{JSON: set},
		}},
	})
	if err != nil {
		panic(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}}, nil)
	token, _ := josejwt.Signed(signer).Claims(map[string]any{
		"iss": "https://issuer.example", "aud": "mcp", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(),
		"org": map[string]any{"id": "o1"},
	}).Serialize()

	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := agentgateway.StateFrom(r.Context()).Identity
		fmt.Fprintf(w, "%s of %s", id.Subject, id.JWT["org"].(map[string]any)["id"])
	})
	for _, auth := range []string{"Bearer " + token, "Bearer not-a-jwt", ""} {
		r := httptest.NewRequest("GET", "/mcp", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		r = r.WithContext(agentgateway.WithState(r.Context(), &agentgateway.State{}))
		w := httptest.NewRecorder()
		jwt.Wrap(backend).ServeHTTP(w, r)
		fmt.Println(w.Code, strings.SplitN(w.Header().Get("WWW-Authenticate"), ",", 2)[0], w.Body.Len() > 0)
	}
	// Output:
	// 200  true
	// 401 Bearer realm="agentgateway" true
	// 401 Bearer realm="agentgateway" true
}
