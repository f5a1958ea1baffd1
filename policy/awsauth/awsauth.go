// Package awsauth is the `aws` kind of agentgateway's `backendAuth` policy: requests to the backend
// are signed with AWS Signature Version 4 (Bedrock, API Gateway, Lambda URLs). It lives apart from
// package policy so that programs that do not use it do not link the AWS SDK.
package awsauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	agentgateway "github.com/agentgw/agentgateway"
)

// Config configures AWS Signature Version 4 signing of backend requests (the `aws` kind of
// agentgateway's `backendAuth`). With AccessKeyID and SecretAccessKey it uses them; without, the SDK's
// default chain (environment, shared config, IAM roles).
type Config struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Region is required with explicit credentials; otherwise the default chain's region is used.
	Region string
	// ServiceName is the SigV4 service, e.g. "bedrock" or "execute-api".
	ServiceName string
	// AssumeRole, when set, signs with the credentials of this role, assumed with the credentials
	// above (or the default chain's).
	AssumeRole *AssumeRole
	// Now overrides the signing clock (tests).
	Now func() time.Time
}

// maxSignedBody is the largest body hashed into a SigV4 signature; larger bodies are sent with
// UNSIGNED-PAYLOAD.
const maxSignedBody = 16 << 20

// New returns the SigV4 backend authentication policy; it runs at agentgateway.PhaseBackend. Error
// paths are relative to cfg ("serviceName").
func New(a Config) (agentgateway.Policy, error) {
	if a.ServiceName == "" {
		return nil, agentgateway.Errorf("serviceName", "required")
	}
	var provider aws.CredentialsProvider
	var base aws.Config
	region := a.Region
	switch {
	case (a.AccessKeyID == "") != (a.SecretAccessKey == ""):
		return nil, agentgateway.Errorf("secretAccessKey", "accessKeyId and secretAccessKey must be set together")
	case a.AccessKeyID != "":
		provider = credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, a.SessionToken)
		if region == "" {
			return nil, agentgateway.Errorf("region", "required with explicit credentials")
		}
		base = aws.Config{Region: region, Credentials: provider}
	default:
		cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(region))
		if err != nil {
			return nil, agentgateway.Errorf("", "loading the default AWS configuration: %w", err)
		}
		provider = cfg.Credentials
		base = cfg
		if region == "" {
			region = cfg.Region
		}
		if region == "" {
			return nil, agentgateway.Errorf("region", "required (no ambient AWS region)")
		}
	}
	cache := aws.NewCredentialsCache(provider)
	credsFor := func(r *http.Request) (aws.Credentials, error) { return cache.Retrieve(r.Context()) }
	if a.AssumeRole != nil {
		base.Region = region
		rs, err := newRoleSessions(a.AssumeRole, base)
		if err != nil {
			return nil, err
		}
		credsFor = func(r *http.Request) (aws.Credentials, error) { return rs.credentials(r.Context(), r) }
	}
	signer := v4.NewSigner()
	now := a.Now
	if now == nil {
		now = time.Now
	}
	return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			creds, err := credsFor(r)
			if err != nil {
				if st := agentgateway.StateFrom(r.Context()); st != nil {
					st.Err = fmt.Errorf("aws credentials: %w", err)
				}
				if errors.Is(err, ErrInvalidSession) {
					agentgateway.WriteError(w, http.StatusBadRequest, "the request gives no valid AWS session name or tag")
					return
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
			// The signer reads the host and path from the request as the upstream will see them: the
			// HTTP backend forwards the inbound Host and the (rewritten) path.
			sign := func(r *http.Request, payload string) error {
				r.Header.Del("Authorization")
				r.Header.Set("X-Amz-Content-Sha256", payload)
				sr := r.Clone(r.Context())
				if sr.URL.Host == "" {
					sr.URL.Host = r.Host
				}
				if sr.URL.Scheme == "" {
					sr.URL.Scheme = "https"
				}
				if err := signer.SignHTTP(r.Context(), creds, sr, payload, a.ServiceName, region, now()); err != nil {
					return err
				}
				for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
					if v := sr.Header.Get(h); v != "" {
						r.Header.Set(h, v)
					}
				}
				return nil
			}
			if err := sign(r, payload); err != nil {
				agentgateway.WriteError(w, http.StatusInternalServerError, "signing request")
				return
			}
			// Backends that build their own upstream requests (MCP targets) sign each of them.
			ctx := agentgateway.WithBackendCredentials(r.Context(), func(out *http.Request) {
				_ = sign(out, outboundPayload(out))
			})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}), nil
}

// outboundPayload is the payload hash of a request the gateway built itself: its body is in memory
// and GetBody re-reads it.
func outboundPayload(r *http.Request) string {
	if r.Body == nil || r.Body == http.NoBody {
		sum := sha256.Sum256(nil)
		return hex.EncodeToString(sum[:])
	}
	if r.GetBody == nil {
		return "UNSIGNED-PAYLOAD"
	}
	rc, err := r.GetBody()
	if err != nil {
		return "UNSIGNED-PAYLOAD"
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(rc, maxSignedBody+1)); err != nil {
		return "UNSIGNED-PAYLOAD"
	}
	return hex.EncodeToString(h.Sum(nil))
}
