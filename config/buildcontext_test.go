package config_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/policy"
)

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// A translator from another source uses a BuildContext the way the YAML rows do: files resolve
// against its directory, services through its resolver, errors land at its own field paths (joined
// lists included) and Close releases what the build registered.
func TestBuildContextForOtherSources(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("a:{SHA}hvfkN/qlp/zhXR3cuerq6jd2Z7g=\n"), 0o600))
	bc := config.NewBuildContext(dir, agentgateway.Services{})
	require.NotNil(t, bc.Logger, "a logger even when the services have none")
	bc.ResolveService = func(ref config.ServiceRef) (string, error) {
		if ref.Name != "auth" {
			return "", fmt.Errorf("no service %q", ref.Name)
		}
		return "10.0.0.7:8080", nil
	}
	route := bc.At("spec.rules[1]").At("filters[0]")
	assert.Equal(t, "spec.rules[1].filters[0]", route.Path)

	data, err := route.ReadFile("htpasswd", "htpasswd")
	require.NoError(t, err)
	_, err = policy.NewBasicAuth(policy.BasicAuthConfig{Htpasswd: data})
	require.NoError(t, err)
	_, err = route.ReadFile("htpasswd", "missing")
	var ce *agentgateway.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "spec.rules[1].filters[0].htpasswd", ce.Path)

	host, err := route.Service("service", config.ServiceRef{Name: "auth", Port: 80})
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.7:8080", host)
	_, err = route.Service("service", config.ServiceRef{Name: "nope"})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "spec.rules[1].filters[0].service", ce.Path)

	// A constructor's errors are relative to its config; Wrap puts them under the context's path.
	_, err = policy.NewCORS(policy.CORSConfig{AllowOrigins: []string{"bad"}})
	require.ErrorAs(t, route.Wrap(err), &ce)
	assert.Equal(t, "spec.rules[1].filters[0].allowOrigins[0]", ce.Path)
	joined := route.Wrap(errors.Join(agentgateway.Errorf("a", "x"), errors.New("plain")))
	assert.Equal(t, "spec.rules[1].filters[0].a: x\nspec.rules[1].filters[0]: plain", joined.Error())
	assert.ErrorIs(t, joined, agentgateway.ErrInvalidConfig)
	assert.EqualError(t, route.Errorf("[2].name", "bad %s", "name"), "spec.rules[1].filters[0][2].name: bad name")

	var closed []string
	route.OnClose(closerFunc(func() error { closed = append(closed, "a"); return nil }))
	bc.OnClose(closerFunc(func() error { closed = append(closed, "b"); return errors.New("b failed") }))
	assert.EqualError(t, bc.Close(), "b failed", "contexts derived with At share one cleanup list")
	assert.Equal(t, []string{"a", "b"}, closed)
	require.NoError(t, bc.Close(), "closed once")
}

// Files a config names are read with a bound, so naming a device (or a huge file) is an error at the
// field, not a hung or exhausted process.
func TestConfigFilesAreBounded(t *testing.T) {
	for snippet, path := range map[string]string{
		"jwtAuth: {issuer: x, jwks: {file: /dev/zero}}":                "policies.jwtAuth.jwks.file",
		"jwtAuth: {providers: [{issuer: x, jwks: {file: /dev/zero}}]}": "policies.jwtAuth.providers[0].jwks.file",
		"basicAuth: {htpasswd: {file: /dev/zero}}":                     "policies.basicAuth.htpasswd.file",
		"backendAuth: {key: {value: {file: /dev/zero}}}":               "policies.backendAuth.key.value.file",
		"backendAuth: {gcp: {credential: {file: /dev/zero}}}":          "policies.backendAuth.gcp.credential",
		"backendTLS: {root: /dev/zero}":                                "policies.backendTLS.root",
		"backendTLS: {cert: /dev/zero, key: /dev/zero}":                "policies.backendTLS.cert",
	} {
		y := "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - policies:\n        " + snippet + "\n      backends: [{host: '127.0.0.1:1'}]\n"
		_, err := build(t, y, nil)
		require.Error(t, err, snippet)
		assert.Contains(t, err.Error(), path+": /dev/zero: larger than", snippet)
	}
}

// Policies built from a file use the gateway's outbound transport hook once applied — on routes and
// on backends, whose policies the gateway does not see itself.
func TestFilePoliciesUseGatewayTransport(t *testing.T) {
	jwksURL, tok := issuerJWKS(t)

	jwt := "jwtAuth: {mode: strict, issuer: https://issuer.example, jwks: {url: '" + jwksURL + "'}}"
	for name, y := range map[string]string{
		"route":   "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - policies:\n        " + jwt + "\n      backends: [{host: $UP}]\n",
		"backend": "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - host: $UP\n        policies:\n          " + jwt + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			rt, err := build(t, y, map[string]string{"UP": upstream(t, "up")})
			require.NoError(t, err)
			defer rt.Close()
			var hooked atomic.Int32
			gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
				return roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if strings.HasPrefix(jwksURL, "http://"+r.URL.Host) {
						hooked.Add(1)
					}
					return rt.RoundTrip(r)
				})
			}))
			defer gw.Close()
			require.NoError(t, gw.Apply(rt.Config))
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			gw.PortHandler(3000).ServeHTTP(w, r)
			assert.Equal(t, 200, w.Code, w.Body.String())
			assert.Equal(t, int32(1), hooked.Load(), "the JWKS was fetched through the hook")
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
