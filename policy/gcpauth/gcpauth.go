// Package gcpauth is the `gcp` kind of agentgateway's `backendAuth` policy: requests to the backend
// carry a Google access or ID token. It lives apart from package policy so that programs that do not
// use it do not link Google's auth libraries.
package gcpauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"cloud.google.com/go/compute/metadata"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// Spec is the schema's backendAuth `gcp`: an access token (Type "" or "accessToken"), or an ID token
// (Type "idToken") for Audience (default: the request host's https URL). Credential is
// ADC-compatible JSON; when unset, ambient credentials are used (ID tokens then come from the metadata
// server).
type Spec struct {
	Type       string               `json:"type,omitempty"`
	Audience   string               `json:"audience,omitempty"`
	Credential *policy.FileOrInline `json:"credential,omitempty"`
	// TokenSource overrides how tokens are obtained (tests, custom flows). Go API only.
	TokenSource oauth2.TokenSource `json:"-"`
}

// New returns the Google token backend authentication policy; it runs at agentgateway.PhaseBackend.
// Error paths are relative to the `gcp` object ("type").
func New(g Spec) (agentgateway.Policy, error) {
	ts := g.TokenSource
	idToken := false
	switch g.Type {
	case "", "accessToken":
	case "idToken":
		idToken = true
	default:
		return nil, agentgateway.Errorf("type", "want accessToken or idToken, got %q", g.Type)
	}
	if ts == nil {
		switch {
		case idToken && g.Credential != nil:
			return nil, agentgateway.Errorf("credential", "ID tokens from a credential file are not supported; use ambient credentials")
		case idToken:
			ts = nil // per-audience, below
		case g.Credential != nil:
			data, err := g.Credential.Load()
			if err != nil {
				return nil, agentgateway.Errorf("credential", "%w", err)
			}
			creds, err := google.CredentialsFromJSONWithType(context.Background(), data, google.ServiceAccount, "https://www.googleapis.com/auth/cloud-platform")
			if err != nil {
				creds, err = google.CredentialsFromJSONWithType(context.Background(), data, google.AuthorizedUser, "https://www.googleapis.com/auth/cloud-platform")
			}
			if err != nil {
				return nil, agentgateway.Errorf("credential", "%w", err)
			}
			ts = creds.TokenSource
		default:
			ts = lazyDefaultTokenSource()
		}
	}
	if ts != nil {
		ts = oauth2.ReuseTokenSource(nil, ts)
	}
	return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			src := ts
			if src == nil {
				aud := g.Audience
				if aud == "" {
					aud = "https://" + policyutil.HostOnly(r.Host)
				}
				src = metadataIDToken(aud)
			}
			tok, err := src.Token()
			if err != nil {
				if st := agentgateway.StateFrom(r.Context()); st != nil {
					st.Err = fmt.Errorf("gcp token: %w", err)
				}
				agentgateway.WriteError(w, http.StatusBadGateway, "backend credentials unavailable")
				return
			}
			r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			next.ServeHTTP(w, r)
		})
	}), nil
}

type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

// lazyDefaultTokenSource finds Application Default Credentials on first use, so building a config
// never needs the network or a credentials file.
func lazyDefaultTokenSource() oauth2.TokenSource {
	var ts oauth2.TokenSource
	return tokenFunc(func() (*oauth2.Token, error) {
		if ts == nil {
			s, err := google.DefaultTokenSource(context.Background(), "https://www.googleapis.com/auth/cloud-platform")
			if err != nil {
				return nil, err
			}
			ts = s
		}
		return ts.Token()
	})
}

// metadataIDToken asks the GCE/Cloud Run metadata server for an ID token.
func metadataIDToken(aud string) oauth2.TokenSource {
	return tokenFunc(func() (*oauth2.Token, error) {
		tok, err := metadata.GetWithContext(context.Background(), "instance/service-accounts/default/identity?audience="+url.QueryEscape(aud)+"&format=full")
		if err != nil {
			return nil, err
		}
		return &oauth2.Token{AccessToken: strings.TrimSpace(tok)}, nil
	})
}
