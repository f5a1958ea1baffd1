package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/compute/metadata"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	agentgateway "github.com/agentgw/agentgateway"
)

// BackendAuthSpec is the schema's `backendAuth`: exactly one of Passthrough, Key, GCP and AWS
// (azure, copilot, jwtSign, oauthTokenExchange and crossAppAccess are not supported).
type BackendAuthSpec struct {
	// Passthrough forwards the token a JWT policy verified.
	Passthrough *PassthroughAuth `json:"passthrough,omitempty"`
	// Key sends a static secret.
	Key *KeyAuth `json:"key,omitempty"`
	// GCP sends a Google access or ID token.
	GCP *GCPAuth `json:"gcp,omitempty"`
	// AWS signs requests with SigV4.
	AWS *AWSAuth `json:"aws,omitempty"`
}

// PassthroughAuth forwards the verified incoming JWT; Location defaults to Authorization: Bearer.
type PassthroughAuth struct {
	Location *Location `json:"location,omitempty"`
}

// KeyAuth sends Value at Location (default Authorization: Bearer).
type KeyAuth struct {
	Value    FileOrInline `json:"value"`
	Location *Location    `json:"location,omitempty"`
}

// GCPAuth fetches Google tokens: an access token (Type "" or "accessToken"), or an ID token (Type
// "idToken") for Audience (default: the request host's https URL). Credential is ADC-compatible
// JSON; when unset, ambient credentials are used (ID tokens then come from the metadata server).
type GCPAuth struct {
	Type       string        `json:"type,omitempty"`
	Audience   string        `json:"audience,omitempty"`
	Credential *FileOrInline `json:"credential,omitempty"`
	// TokenSource overrides how tokens are obtained (tests, custom flows). Go API only.
	TokenSource oauth2.TokenSource `json:"-"`
}

// AWSAuth signs requests with AWS SigV4. With AccessKeyID and SecretAccessKey it uses them; without,
// the SDK's default chain (environment, shared config, IAM roles). AssumeRole is not supported.
type AWSAuth struct {
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	SessionToken    string `json:"sessionToken,omitempty"`
	Region          string `json:"region,omitempty"`
	// ServiceName is the SigV4 service, e.g. "bedrock" or "execute-api".
	ServiceName string `json:"serviceName,omitempty"`
	AssumeRole  any    `json:"assumeRole,omitempty"`
	// Now overrides the signing clock (tests). Go API only.
	Now func() time.Time `json:"-"`
}

// maxSignedBody is the largest body hashed into a SigV4 signature; larger bodies are sent with
// UNSIGNED-PAYLOAD.
const maxSignedBody = 16 << 20

// NewBackendAuth returns the backend authentication policy. It writes the credential into the
// outgoing request (after any credential the client sent at the same place is dropped).
func NewBackendAuth(spec BackendAuthSpec) (agentgateway.Policy, error) {
	n := 0
	for _, set := range []bool{spec.Passthrough != nil, spec.Key != nil, spec.GCP != nil, spec.AWS != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, agentgateway.Errorf("", "set exactly one of passthrough, key, gcp, aws")
	}
	switch {
	case spec.Passthrough != nil:
		loc, err := spec.Passthrough.Location.compile("passthrough.location", BearerLocation(), true)
		if err != nil {
			return nil, err
		}
		return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tok := TokenFrom(r.Context()); tok != "" {
					loc.place(r, tok)
				}
				next.ServeHTTP(w, r)
			})
		}), nil
	case spec.Key != nil:
		loc, err := spec.Key.Location.compile("key.location", BearerLocation(), true)
		if err != nil {
			return nil, err
		}
		if spec.Key.Value.IsZero() {
			return nil, agentgateway.Errorf("key.value", "required")
		}
		v, err := spec.Key.Value.Load()
		if err != nil {
			return nil, agentgateway.Errorf("key.value.file", "%w", err)
		}
		secret := strings.TrimSpace(string(v))
		return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				loc.place(r, secret)
				next.ServeHTTP(w, r)
			})
		}), nil
	case spec.GCP != nil:
		return newGCPAuth(*spec.GCP)
	default:
		return newAWSAuth(*spec.AWS)
	}
}

func newGCPAuth(g GCPAuth) (agentgateway.Policy, error) {
	ts := g.TokenSource
	idToken := false
	switch g.Type {
	case "", "accessToken":
	case "idToken":
		idToken = true
	default:
		return nil, agentgateway.Errorf("gcp.type", "want accessToken or idToken, got %q", g.Type)
	}
	if ts == nil {
		switch {
		case idToken && g.Credential != nil:
			return nil, agentgateway.Errorf("gcp.credential", "ID tokens from a credential file are not supported; use ambient credentials")
		case idToken:
			ts = nil // per-audience, below
		case g.Credential != nil:
			data, err := g.Credential.Load()
			if err != nil {
				return nil, agentgateway.Errorf("gcp.credential", "%w", err)
			}
			creds, err := google.CredentialsFromJSONWithType(context.Background(), data, google.ServiceAccount, "https://www.googleapis.com/auth/cloud-platform")
			if err != nil {
				creds, err = google.CredentialsFromJSONWithType(context.Background(), data, google.AuthorizedUser, "https://www.googleapis.com/auth/cloud-platform")
			}
			if err != nil {
				return nil, agentgateway.Errorf("gcp.credential", "%w", err)
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
					aud = "https://" + hostOnly(r.Host)
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

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
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

func newAWSAuth(a AWSAuth) (agentgateway.Policy, error) {
	if a.AssumeRole != nil {
		return nil, agentgateway.Errorf("aws.assumeRole", "not supported")
	}
	if a.ServiceName == "" {
		return nil, agentgateway.Errorf("aws.serviceName", "required")
	}
	var provider aws.CredentialsProvider
	region := a.Region
	switch {
	case (a.AccessKeyID == "") != (a.SecretAccessKey == ""):
		return nil, agentgateway.Errorf("aws.secretAccessKey", "accessKeyId and secretAccessKey must be set together")
	case a.AccessKeyID != "":
		provider = credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, a.SessionToken)
		if region == "" {
			return nil, agentgateway.Errorf("aws.region", "required with explicit credentials")
		}
	default:
		cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(region))
		if err != nil {
			return nil, agentgateway.Errorf("aws", "loading the default AWS configuration: %w", err)
		}
		provider = cfg.Credentials
		if region == "" {
			region = cfg.Region
		}
		if region == "" {
			return nil, agentgateway.Errorf("aws.region", "required (no ambient AWS region)")
		}
	}
	cache := aws.NewCredentialsCache(provider)
	signer := v4.NewSigner()
	now := a.Now
	if now == nil {
		now = time.Now
	}
	return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			creds, err := cache.Retrieve(r.Context())
			if err != nil {
				if st := agentgateway.StateFrom(r.Context()); st != nil {
					st.Err = fmt.Errorf("aws credentials: %w", err)
				}
				agentgateway.WriteError(w, http.StatusBadGateway, "backend credentials unavailable")
				return
			}
			payload := "UNSIGNED-PAYLOAD"
			if r.Body == nil || r.Body == http.NoBody {
				sum := sha256.Sum256(nil)
				payload = hex.EncodeToString(sum[:])
			} else if r.ContentLength >= 0 && r.ContentLength <= maxSignedBody {
				body, err := io.ReadAll(io.LimitReader(r.Body, maxSignedBody+1))
				if err != nil {
					agentgateway.WriteError(w, http.StatusBadRequest, "reading request body")
					return
				}
				if len(body) <= maxSignedBody {
					sum := sha256.Sum256(body)
					payload = hex.EncodeToString(sum[:])
					r.Body = io.NopCloser(bytes.NewReader(body))
				} else {
					r.Body = struct {
						io.Reader
						io.Closer
					}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
				}
			}
			r.Header.Del("Authorization")
			r.Header.Set("X-Amz-Content-Sha256", payload)
			// The signer reads the host and path from the request as the upstream will see them: the
			// HTTP backend forwards the inbound Host and the (rewritten) path.
			sr := r.Clone(r.Context())
			if sr.URL.Host == "" {
				sr.URL.Host = r.Host
			}
			if sr.URL.Scheme == "" {
				sr.URL.Scheme = "https"
			}
			if err := signer.SignHTTP(r.Context(), creds, sr, payload, a.ServiceName, region, now()); err != nil {
				agentgateway.WriteError(w, http.StatusInternalServerError, "signing request")
				return
			}
			for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
				if v := sr.Header.Get(h); v != "" {
					r.Header.Set(h, v)
				}
			}
			next.ServeHTTP(w, r)
		})
	}), nil
}
