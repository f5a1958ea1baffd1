package policy_test

import (
	"github.com/agentgw/agentgateway/internal/logbuf"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// countingWrapper is a gateway transport hook that counts the requests it carries.
type countingWrapper struct{ n atomic.Int32 }

func (c *countingWrapper) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		c.n.Add(1)
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Behind a Gateway, a remote JWKS is fetched through the gateway's outbound transport hook (trace
// propagation, client metrics), unless the config names its own client.
func TestJWTFetchesJWKSThroughGatewayTransport(t *testing.T) {
	keys(t)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(jwks(t, rsaKey)))
	}))
	defer jwksSrv.Close()
	for _, c := range []struct {
		name   string
		client *http.Client
		want   int32
	}{
		{"default client", nil, 1},
		{"own client", jwksSrv.Client(), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hook countingWrapper
			p, err := policy.NewJWT(policy.JWTConfig{HTTPClient: c.client,
				Providers: []policy.JWTProvider{{Issuer: "https://issuer.example", JWKS: policy.JWKS{URL: jwksSrv.URL}}}})
			require.NoError(t, err)
			gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithTransportWrapper(hook.wrap))
			defer gw.Close()
			require.NoError(t, gw.Route("api").PathPrefix("/").Use(p).To(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, req("GET", "/", "Authorization", "Bearer "+mint(t, rsaKey, claims(nil))))
			assert.Equal(t, 200, w.Code, w.Body.String())
			assert.Equal(t, c.want, hook.n.Load())
		})
	}
}

// provisionedTarget records the services a gateway lends it.
type provisionedTarget struct {
	http.Handler
	mu  sync.Mutex
	svc *agentgateway.Services
}

func (p *provisionedTarget) Provision(svc agentgateway.Services) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.svc = &svc
	return nil
}

// A mirror behind a Gateway logs to the gateway's logger (when given none) and hands the gateway's
// services on to its target, which the gateway does not see.
func TestMirrorProvisionedByGateway(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mirrored := make(chan struct{}, 1)
	target := &provisionedTarget{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		mirrored <- struct{}{}
	})}
	m, err := policy.NewMirror(policy.MirrorConfig{Percentage: 1}, target)
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithLogger(logger))
	require.NoError(t, gw.Route("api").PathPrefix("/").Use(m).To(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	target.mu.Lock()
	require.NotNil(t, target.svc, "the target was provisioned")
	assert.Same(t, logger, target.svc.Logger)
	target.mu.Unlock()

	gw.ServeHTTP(httptest.NewRecorder(), req("GET", "/"))
	select {
	case <-mirrored:
	case <-time.After(10 * time.Second):
		t.Fatal("not mirrored")
	}
	require.NoError(t, gw.Close()) // closes the mirror, which waits for the mirrored request
	assert.Contains(t, logs.String(), "request mirror failed", "logged to the gateway's logger")
}

type syncBuffer = logbuf.Buffer

// The API key policy records a copy of a key's metadata: the caller's map is not modified (it used
// to gain allowedModels), so one map may serve several keys or policies.
func TestAPIKeyLeavesMetadataAlone(t *testing.T) {
	meta := map[string]any{"name": "bot"}
	p, err := policy.NewAPIKey(policy.APIKeyConfig{Keys: []policy.APIKey{{Key: "k", Metadata: meta, AllowedModels: []string{"gpt"}}}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"name": "bot"}, meta)
	var s seen
	do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer k"))
	assert.Equal(t, []any{"gpt"}, s.State.Identity.APIKey["allowedModels"])
	assert.Equal(t, "bot", s.State.Identity.Subject)
}
