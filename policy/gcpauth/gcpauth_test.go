package gcpauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/gcpauth"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeTokens struct{ n int }

func (f *fakeTokens) Token() (*oauth2.Token, error) {
	f.n++
	return &oauth2.Token{AccessToken: "ya29.fake", Expiry: time.Now().Add(time.Hour)}, nil
}

func TestAccessToken(t *testing.T) {
	src := &fakeTokens{}
	p, err := gcpauth.New(gcpauth.Config{TokenSource: src})
	require.NoError(t, err)
	assert.Equal(t, agentgateway.PhaseBackend, agentgateway.PhaseOf(p))
	var s policytest.Seen
	for range 3 {
		policytest.Do(p, s.Handler(200, ""), policytest.Req("GET", "/", "Authorization", "Bearer client"))
		assert.Equal(t, "Bearer ya29.fake", s.Req.Header.Get("Authorization"))
	}
	assert.Equal(t, 1, src.n, "tokens are reused until they expire")
}

func TestConfigErrors(t *testing.T) {
	for field, spec := range map[string]gcpauth.Config{
		"type":       {Type: gcpauth.TokenType(9)},
		"credential": {Type: gcpauth.IDToken, Credential: []byte("{}")},
	} {
		_, err := gcpauth.New(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

// Behind a Gateway, token requests go through the gateway's outbound transport hook: here the hook
// answers Google's token endpoint itself, so the test needs no network.
func TestTokensUseGatewayTransport(t *testing.T) {
	var asked atomic.Int32
	wrap := func(http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			asked.Add(1)
			body := `{"access_token":"ya29.hooked","token_type":"Bearer","expires_in":3600}`
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
	}
	creds := []byte(`{"type":"authorized_user","client_id":"id","client_secret":"secret","refresh_token":"refresh"}`)
	p, err := gcpauth.New(gcpauth.Config{Credential: creds})
	require.NoError(t, err)
	var s policytest.Seen
	gw := agentgateway.New(agentgateway.WithTransportWrapper(wrap))
	require.NoError(t, gw.Route("api").PathPrefix("/").Use(p).To(s.Handler(200, "")))
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, policytest.Req("GET", "/"))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "Bearer ya29.hooked", s.Req.Header.Get("Authorization"))
	assert.Equal(t, int32(1), asked.Load())
	require.NoError(t, gw.Close())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
