// Package gcpauth is the `gcp` kind of agentgateway's `backendAuth` policy: requests to the backend
// carry a Google access or ID token. It lives apart from package policy so that programs that do not
// use it do not link Google's auth libraries.
package gcpauth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/metadata"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// Config configures Google tokens on backend requests (the `gcp` kind of agentgateway's
// `backendAuth`): an access token ([AccessToken], the zero value), or an ID token ([IDToken]) for
// Audience (default: the request host's https URL). Credential is ADC-compatible JSON (a service
// account key or an authorized user); when unset, ambient credentials are used (ID tokens then come
// from the metadata server).
type Config struct {
	Type       TokenType
	Audience   string
	Credential []byte
	// TokenSource overrides how tokens are obtained (tests, custom flows).
	TokenSource oauth2.TokenSource
}

// TokenType is the kind of Google token sent.
type TokenType uint8

// The token types.
const (
	// AccessToken is an OAuth2 access token (cloud-platform scope).
	AccessToken TokenType = iota
	// IDToken is an OpenID Connect ID token for an audience.
	IDToken
)

// String returns the type as agentgateway's schema spells it ("accessToken", "idToken").
func (t TokenType) String() string {
	switch t {
	case AccessToken:
		return "accessToken"
	case IDToken:
		return "idToken"
	}
	return "tokenType(" + strconv.Itoa(int(t)) + ")"
}

const cloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// auth is the compiled policy.
type auth struct {
	audience string
	ts       oauth2.TokenSource // nil: ID tokens per audience from the metadata server
	outbound *policyutil.Outbound
	meta     *metadata.Client
}

// New returns the Google token backend authentication policy; it runs at agentgateway.PhaseBackend.
// Error paths are relative to cfg ("type"). The policy implements [agentgateway.Provisioner]: behind
// a Gateway, token requests (OAuth2 refreshes, the metadata server) go through the gateway's outbound
// transport hook.
func New(cfg Config) (agentgateway.Policy, error) {
	a := &auth{audience: cfg.Audience, outbound: policyutil.NewOutbound(&http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		DialContext:     (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		IdleConnTimeout: 60 * time.Second,
	})}
	client := &http.Client{Transport: a.outbound, Timeout: 10 * time.Second}
	// Token sources read the client to use from their context.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	a.meta = metadata.NewClient(client)
	ts := cfg.TokenSource
	switch cfg.Type {
	case AccessToken, IDToken:
	default:
		return nil, agentgateway.Errorf("type", "want accessToken or idToken, got %v", cfg.Type)
	}
	idToken := cfg.Type == IDToken
	if ts == nil {
		switch {
		case idToken && cfg.Credential != nil:
			return nil, agentgateway.Errorf("credential", "ID tokens from a credential file are not supported; use ambient credentials")
		case idToken:
			ts = nil // per-audience, below
		case cfg.Credential != nil:
			creds, err := google.CredentialsFromJSONWithType(ctx, cfg.Credential, google.ServiceAccount, cloudPlatform)
			if err != nil {
				creds, err = google.CredentialsFromJSONWithType(ctx, cfg.Credential, google.AuthorizedUser, cloudPlatform)
			}
			if err != nil {
				return nil, agentgateway.Errorf("credential", "%w", err)
			}
			ts = creds.TokenSource
		default:
			ts = lazyDefaultTokenSource(ctx)
		}
	}
	if ts != nil {
		a.ts = oauth2.ReuseTokenSource(nil, ts)
	}
	return a, nil
}

// Phase is agentgateway.PhaseBackend.
func (*auth) Phase() agentgateway.Phase { return agentgateway.PhaseBackend }

// Provision wraps the token client's transport with the gateway's outbound hook.
func (a *auth) Provision(svc agentgateway.Services) error {
	a.outbound.Provision(svc)
	return nil
}

// Close closes the token client's idle connections.
func (a *auth) Close() error {
	a.outbound.CloseIdleConnections()
	return nil
}

// Wrap puts a token on each request.
func (a *auth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := a.ts
		if src == nil {
			aud := a.audience
			if aud == "" {
				aud = "https://" + policyutil.HostOnly(r.Host)
			}
			src = metadataIDToken(a.meta, aud)
		}
		tok, err := src.Token()
		if err != nil {
			if st := agentgateway.StateFrom(r.Context()); st != nil {
				st.Err = fmt.Errorf("gcp token: %w", err)
			}
			agentgateway.WriteError(w, http.StatusBadGateway, "backend credentials unavailable")
			return
		}
		bearer := "Bearer " + tok.AccessToken
		r.Header.Set("Authorization", bearer)
		// Recorded for backends that build their own upstream requests (MCP targets).
		ctx := agentgateway.WithBackendCredentials(r.Context(), func(out *http.Request) { out.Header.Set("Authorization", bearer) })
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

// lazyDefaultTokenSource finds Application Default Credentials on first use, so building a config
// never needs the network or a credentials file.
func lazyDefaultTokenSource(ctx context.Context) oauth2.TokenSource {
	var ts oauth2.TokenSource
	return tokenFunc(func() (*oauth2.Token, error) {
		if ts == nil {
			s, err := google.DefaultTokenSource(ctx, cloudPlatform)
			if err != nil {
				return nil, err
			}
			ts = s
		}
		return ts.Token()
	})
}

// metadataIDToken asks the GCE/Cloud Run metadata server for an ID token.
func metadataIDToken(c *metadata.Client, aud string) oauth2.TokenSource {
	return tokenFunc(func() (*oauth2.Token, error) {
		tok, err := c.GetWithContext(context.Background(), "instance/service-accounts/default/identity?audience="+url.QueryEscape(aud)+"&format=full")
		if err != nil {
			return nil, err
		}
		return &oauth2.Token{AccessToken: strings.TrimSpace(tok)}, nil
	})
}
