package azureauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/azureauth"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// entra is a Microsoft identity platform stub: /{tenant}/oauth2/v2.0/token (client credentials) and
// an IMDS-style GET token endpoint; it records each request.
type entra struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	form []url.Values
}

func newEntra(t *testing.T) *entra {
	e := &entra{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		e.mu.Lock()
		e.reqs, e.form = append(e.reqs, r), append(e.form, r.PostForm)
		n := len(e.reqs)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet { // IMDS answers expires_in as a string
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "mi-token", "expires_in": "3599", "resource": r.URL.Query().Get("resource")})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "app-token-" + string(rune('0'+n)), "token_type": "Bearer", "expires_in": 3599})
	}))
	t.Cleanup(e.Close)
	return e
}

func TestClientSecret(t *testing.T) {
	e := newEntra(t)
	p, err := azureauth.New(azureauth.Config{ClientSecret: &azureauth.ClientSecret{TenantID: "tenant-1", ClientID: "app", Secret: "s3cret"}, AuthorityHost: e.URL})
	require.NoError(t, err)
	var s policytest.Seen
	for range 2 {
		w := policytest.Do(p, s.Handler(200, ""), policytest.Req("GET", "/", "Authorization", "Bearer client"))
		require.Equal(t, 200, w.Code)
	}
	assert.Equal(t, "Bearer app-token-1", s.Req.Header.Get("Authorization"))
	require.Len(t, e.reqs, 1, "cached until near expiry")
	assert.Equal(t, "/tenant-1/oauth2/v2.0/token", e.reqs[0].URL.Path)
	f := e.form[0]
	assert.Equal(t, "client_credentials", f.Get("grant_type"))
	assert.Equal(t, "app", f.Get("client_id"))
	assert.Equal(t, "s3cret", f.Get("client_secret"))
	assert.Equal(t, azureauth.DefaultScope, f.Get("scope"))
}

func TestManagedIdentity(t *testing.T) {
	e := newEntra(t)
	p, err := azureauth.New(azureauth.Config{ManagedIdentity: &azureauth.ManagedIdentity{ClientID: "uami"}, IMDSEndpoint: e.URL + "/metadata/identity/oauth2/token", Scope: "https://storage.azure.com/.default"})
	require.NoError(t, err)
	var s policytest.Seen
	policytest.Do(p, s.Handler(200, ""), policytest.Req("GET", "/"))
	assert.Equal(t, "Bearer mi-token", s.Req.Header.Get("Authorization"))
	r := e.reqs[0]
	assert.Equal(t, "true", r.Header.Get("Metadata"))
	assert.Equal(t, "2018-02-01", r.URL.Query().Get("api-version"))
	assert.Equal(t, "https://storage.azure.com", r.URL.Query().Get("resource"))
	assert.Equal(t, "uami", r.URL.Query().Get("client_id"))
}

func TestWorkloadIdentity(t *testing.T) {
	e := newEntra(t)
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte("federated-jwt\n"), 0o600))
	t.Setenv("AZURE_TENANT_ID", "t2")
	t.Setenv("AZURE_CLIENT_ID", "wi-app")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	t.Setenv("AZURE_AUTHORITY_HOST", e.URL)
	p, err := azureauth.New(azureauth.Config{Implicit: true})
	require.NoError(t, err)
	var s policytest.Seen
	policytest.Do(p, s.Handler(200, ""), policytest.Req("GET", "/"))
	assert.Equal(t, "Bearer app-token-1", s.Req.Header.Get("Authorization"))
	f := e.form[0]
	assert.Equal(t, "/t2/oauth2/v2.0/token", e.reqs[0].URL.Path)
	assert.Equal(t, "wi-app", f.Get("client_id"))
	assert.Equal(t, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", f.Get("client_assertion_type"))
	assert.Equal(t, "federated-jwt", f.Get("client_assertion"))

	// A failing token endpoint is a gateway error.
	e.Close()
	p, err = azureauth.New(azureauth.Config{ClientSecret: &azureauth.ClientSecret{TenantID: "t", ClientID: "c", Secret: "s"}, AuthorityHost: e.URL})
	require.NoError(t, err)
	w := policytest.Do(p, s.Handler(200, ""), policytest.Req("GET", "/"))
	assert.Equal(t, http.StatusBadGateway, w.Code)

	for field, cfg := range map[string]azureauth.Config{
		"":                                      {},
		"explicitConfig.clientSecret.tenant_id": {ClientSecret: &azureauth.ClientSecret{ClientID: "c", Secret: "s"}},
		"explicitConfig.managedIdentity.userAssignedIdentity": {ManagedIdentity: &azureauth.ManagedIdentity{ClientID: "a", ObjectID: "b"}},
	} {
		_, err := azureauth.New(cfg)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}
