// Package azureauth is the `azure` kind of agentgateway's `backendAuth` policy: a Microsoft Entra ID
// access token for the backend, from a client secret (OAuth 2.0 client credentials), a managed
// identity (Azure IMDS, or App Service's IDENTITY_ENDPOINT) or a workload identity (a federated token
// file as the client assertion). It speaks the token protocols directly and links no Azure SDK.
package azureauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// DefaultScope is the scope requested when Config.Scope is empty: Azure AI services (Azure OpenAI,
// AI Foundry), what agentgateway's azure backendAuth is for.
const DefaultScope = "https://cognitiveservices.azure.com/.default"

// Config selects the credential: exactly one of ClientSecret, ManagedIdentity, WorkloadIdentity and
// Implicit.
type Config struct {
	ClientSecret     *ClientSecret
	ManagedIdentity  *ManagedIdentity
	WorkloadIdentity *WorkloadIdentity
	// Implicit picks by environment, as agentgateway's `implicit`: a workload identity when
	// AZURE_FEDERATED_TOKEN_FILE is set, a client secret when AZURE_CLIENT_SECRET is, else the managed
	// identity.
	Implicit bool
	// Scope is the requested scope (default DefaultScope); for the managed identity the resource is
	// the scope without "/.default".
	Scope string
	// AuthorityHost is the Entra ID endpoint (default: AZURE_AUTHORITY_HOST, else
	// https://login.microsoftonline.com).
	AuthorityHost string
	// IMDSEndpoint overrides the instance metadata token endpoint (tests).
	IMDSEndpoint string
	// HTTPClient calls the token endpoints (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// Now overrides the clock (tests).
	Now func() time.Time
}

// ClientSecret is an app registration's secret (agentgateway's explicitConfig.clientSecret).
type ClientSecret struct {
	TenantID, ClientID, Secret string
}

// ManagedIdentity is the system-assigned identity, or a user-assigned one by exactly one of ClientID,
// ObjectID and ResourceID.
type ManagedIdentity struct {
	ClientID, ObjectID, ResourceID string
}

// WorkloadIdentity reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE (AKS
// workload identity) unless set here.
type WorkloadIdentity struct {
	TenantID, ClientID, TokenFile string
}

// ErrToken is wrapped by errors obtaining a token.
var ErrToken = errors.New("azure token")

const imds = "http://169.254.169.254/metadata/identity/oauth2/token"

type source struct {
	fetch func(ctx context.Context) (string, time.Duration, error)
	now   func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New returns the policy: it writes "Authorization: Bearer <token>" into the backend request; the
// token is cached until five minutes before it expires. Error paths are relative to the schema's
// azure.
func New(cfg Config) (agentgateway.Policy, error) {
	s, err := newSource(cfg)
	if err != nil {
		return nil, err
	}
	return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := s.Token(r.Context())
			if err != nil {
				if st := agentgateway.StateFrom(r.Context()); st != nil {
					st.Err = err
				}
				agentgateway.WriteError(w, http.StatusBadGateway, "backend credentials unavailable")
				return
			}
			r.Header.Set("Authorization", "Bearer "+tok)
			place := func(out *http.Request) { out.Header.Set("Authorization", "Bearer "+tok) }
			next.ServeHTTP(w, r.WithContext(agentgateway.WithBackendCredentials(r.Context(), place)))
		})
	}), nil
}

// TokenSource returns a function giving a valid access token for cfg (for callers that build their
// own requests).
func TokenSource(cfg Config) (func(context.Context) (string, error), error) {
	s, err := newSource(cfg)
	if err != nil {
		return nil, err
	}
	return s.Token, nil
}

func newSource(cfg Config) (*source, error) {
	n := 0
	for _, set := range []bool{cfg.ClientSecret != nil, cfg.ManagedIdentity != nil, cfg.WorkloadIdentity != nil, cfg.Implicit} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, agentgateway.Errorf("", "set exactly one of explicitConfig.clientSecret, explicitConfig.managedIdentity, explicitConfig.workloadIdentity, implicit")
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	if cfg.AuthorityHost == "" {
		cfg.AuthorityHost = os.Getenv("AZURE_AUTHORITY_HOST")
	}
	if cfg.AuthorityHost == "" {
		cfg.AuthorityHost = "https://login.microsoftonline.com"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	s := &source{now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.Implicit {
		switch {
		case os.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "":
			cfg.WorkloadIdentity = &WorkloadIdentity{}
		case os.Getenv("AZURE_CLIENT_SECRET") != "":
			cfg.ClientSecret = &ClientSecret{TenantID: os.Getenv("AZURE_TENANT_ID"), ClientID: os.Getenv("AZURE_CLIENT_ID"), Secret: os.Getenv("AZURE_CLIENT_SECRET")}
		default:
			cfg.ManagedIdentity = &ManagedIdentity{ClientID: os.Getenv("AZURE_CLIENT_ID")}
		}
	}
	switch {
	case cfg.ClientSecret != nil:
		c := *cfg.ClientSecret
		for f, v := range map[string]string{"tenant_id": c.TenantID, "client_id": c.ClientID, "client_secret": c.Secret} {
			if v == "" {
				return nil, agentgateway.Errorf("explicitConfig.clientSecret."+f, "required")
			}
		}
		s.fetch = func(ctx context.Context) (string, time.Duration, error) {
			return clientCredentials(ctx, cfg, c.TenantID, url.Values{"client_id": {c.ClientID}, "client_secret": {c.Secret}})
		}
	case cfg.WorkloadIdentity != nil:
		wi := *cfg.WorkloadIdentity
		for _, f := range []struct {
			v   *string
			env string
		}{{&wi.TenantID, "AZURE_TENANT_ID"}, {&wi.ClientID, "AZURE_CLIENT_ID"}, {&wi.TokenFile, "AZURE_FEDERATED_TOKEN_FILE"}} {
			if *f.v == "" {
				*f.v = os.Getenv(f.env)
			}
			if *f.v == "" {
				return nil, agentgateway.Errorf("explicitConfig.workloadIdentity", "%s is not set", f.env)
			}
		}
		s.fetch = func(ctx context.Context) (string, time.Duration, error) {
			// The projected token is rotated by the kubelet: read it for each exchange.
			assertion, err := os.ReadFile(wi.TokenFile)
			if err != nil {
				return "", 0, fmt.Errorf("%w: %w", ErrToken, err)
			}
			return clientCredentials(ctx, cfg, wi.TenantID, url.Values{"client_id": {wi.ClientID},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {strings.TrimSpace(string(assertion))}})
		}
	default:
		mi := *cfg.ManagedIdentity
		ids := 0
		for _, v := range []string{mi.ClientID, mi.ObjectID, mi.ResourceID} {
			if v != "" {
				ids++
			}
		}
		if ids > 1 {
			return nil, agentgateway.Errorf("explicitConfig.managedIdentity.userAssignedIdentity", "set one of clientId, objectId, resourceId")
		}
		s.fetch = func(ctx context.Context) (string, time.Duration, error) { return managedIdentity(ctx, cfg, mi) }
	}
	return s, nil
}

// Token returns a cached token, or obtains a new one when it expires within five minutes.
func (s *source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expires.Add(-5*time.Minute)) {
		return s.token, nil
	}
	tok, ttl, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	s.token, s.expires = tok, s.now().Add(ttl)
	return tok, nil
}

// clientCredentials is the Microsoft identity platform's client credentials grant (v2.0 endpoint).
func clientCredentials(ctx context.Context, cfg Config, tenant string, form url.Values) (string, time.Duration, error) {
	form.Set("grant_type", "client_credentials")
	form.Set("scope", cfg.Scope)
	u := strings.TrimSuffix(cfg.AuthorityHost, "/") + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(cfg.HTTPClient, req)
}

// managedIdentity asks App Service's identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER) or the
// VM's instance metadata service.
func managedIdentity(ctx context.Context, cfg Config, mi ManagedIdentity) (string, time.Duration, error) {
	q := url.Values{"resource": {strings.TrimSuffix(cfg.Scope, "/.default")}}
	endpoint, header, hv := cfg.IMDSEndpoint, "Metadata", "true"
	q.Set("api-version", "2018-02-01")
	if endpoint == "" {
		if ep := os.Getenv("IDENTITY_ENDPOINT"); ep != "" {
			endpoint, header, hv = ep, "X-IDENTITY-HEADER", os.Getenv("IDENTITY_HEADER")
			q.Set("api-version", "2019-08-01")
		} else {
			endpoint = imds
		}
	}
	switch {
	case mi.ClientID != "":
		q.Set("client_id", mi.ClientID)
	case mi.ObjectID != "":
		q.Set("object_id", mi.ObjectID)
	case mi.ResourceID != "":
		q.Set("msi_res_id", mi.ResourceID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set(header, hv)
	return do(cfg.HTTPClient, req)
}

func do(c *http.Client, req *http.Request) (string, time.Duration, error) {
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrToken, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrToken, err)
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
		Error       string          `json:"error"`
		Desc        string          `json:"error_description"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return "", 0, fmt.Errorf("%w: status %d: %s %s", ErrToken, resp.StatusCode, tr.Error, tr.Desc)
	}
	// expires_in is a number (v2.0) or a string of one (IMDS); default an hour.
	ttl := time.Hour
	if n, err := strconv.ParseFloat(strings.Trim(string(tr.ExpiresIn), `"`), 64); err == nil && n > 0 {
		ttl = time.Duration(n) * time.Second
	} else if n, err := strconv.ParseInt(strings.Trim(string(tr.ExpiresOn), `"`), 10, 64); err == nil && n > 0 {
		ttl = time.Until(time.Unix(n, 0))
	}
	return tr.AccessToken, ttl, nil
}
