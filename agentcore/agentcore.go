// Package agentcore is agentgateway's `aws.agentCore` backend: requests are sent to an Amazon Bedrock
// AgentCore runtime with the InvokeAgentRuntime API (POST /runtimes/{agentRuntimeArn}/invocations on
// bedrock-agentcore.{region}.amazonaws.com), signed with AWS Signature Version 4 for the
// "bedrock-agentcore" service. It lives apart from the root package so that programs that do not use
// it do not link the AWS SDK.
package agentcore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	agentgateway "github.com/agentgw/agentgateway"
)

// ServiceName is the SigV4 signing name of the AgentCore data plane.
const ServiceName = "bedrock-agentcore"

// SessionHeader carries the runtime session id (forwarded as the client sent it).
const SessionHeader = "X-Amzn-Bedrock-Agentcore-Runtime-Session-Id"

// Config configures the backend.
type Config struct {
	// AgentRuntimeARN is arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/ID; the region is taken from it.
	AgentRuntimeARN string
	// Qualifier is the endpoint qualifier (version or alias), sent as ?qualifier=.
	Qualifier string
	// Endpoint overrides https://bedrock-agentcore.{region}.amazonaws.com (a VPC endpoint; tests).
	// Default: the AWS_ENDPOINT_URL_BEDROCK_AGENTCORE or AWS_ENDPOINT_URL environment variable, as the
	// AWS SDKs read them.
	Endpoint string
	// Credentials signs when no backendAuth policy recorded credentials for the request (default:
	// the SDK's default chain).
	Credentials aws.CredentialsProvider
	// Transport sends the requests (default: a clone of http.DefaultTransport).
	Transport http.RoundTripper
	// Now overrides the signing clock (tests).
	Now func() time.Time
}

// maxBody is the largest request body sent (AgentCore's payload limit is 100 MB; the body is held in
// memory to be hashed into the signature).
const maxBody = 100 << 20

// ErrARN is wrapped by errors about an agent runtime ARN.
var ErrARN = errors.New("invalid AgentCore runtime ARN")

// ParseARN returns the region of an AgentCore runtime ARN.
func ParseARN(arn string) (region string, err error) {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "bedrock-agentcore" || p[3] == "" || !strings.HasPrefix(p[5], "runtime/") || len(p[5]) == len("runtime/") {
		return "", fmt.Errorf("%w: %q (want arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/ID)", ErrARN, arn)
	}
	return p[3], nil
}

// Backend invokes one AgentCore runtime. It implements [agentgateway.Provisioner].
type Backend struct {
	cfg    Config
	region string
	base   *url.URL
	signer *v4.Signer
	now    func() time.Time

	mu     sync.Mutex
	client *http.Client
	creds  *aws.CredentialsCache
}

// New validates cfg and returns the backend. Error paths are relative to the schema's agentCore.
func New(cfg Config) (*Backend, error) {
	region, err := ParseARN(cfg.AgentRuntimeARN)
	if err != nil {
		return nil, agentgateway.Errorf("agentRuntimeArn", "%w", err)
	}
	ep := cfg.Endpoint
	if ep == "" {
		ep = os.Getenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE")
	}
	if ep == "" {
		ep = os.Getenv("AWS_ENDPOINT_URL")
	}
	if ep == "" {
		ep = "https://bedrock-agentcore." + region + ".amazonaws.com"
	}
	base, err := url.Parse(ep)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, agentgateway.Errorf("endpoint", "want an http(s) URL, got %q", ep)
	}
	b := &Backend{cfg: cfg, region: region, base: base, signer: v4.NewSigner(), now: cfg.Now}
	if b.now == nil {
		b.now = time.Now
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	b.client = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if cfg.Credentials != nil {
		b.creds = aws.NewCredentialsCache(cfg.Credentials)
	}
	return b, nil
}

// Provision implements [agentgateway.Provisioner]: the gateway's outbound hook wraps the transport.
func (b *Backend) Provision(svc agentgateway.Services) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.client.Transport = svc.Transport(b.client.Transport)
	return nil
}

// Close releases idle connections.
func (b *Backend) Close() error {
	b.client.CloseIdleConnections()
	return nil
}

// invocationURL is POST /runtimes/{agentRuntimeArn}/invocations, the ARN URL-encoded as one segment.
func (b *Backend) invocationURL() *url.URL {
	u := *b.base
	esc := escapeAll(b.cfg.AgentRuntimeARN)
	u.Path = strings.TrimSuffix(u.Path, "/") + "/runtimes/" + b.cfg.AgentRuntimeARN + "/invocations"
	u.RawPath = strings.TrimSuffix(b.base.EscapedPath(), "/") + "/runtimes/" + esc + "/invocations"
	if b.cfg.Qualifier != "" {
		u.RawQuery = url.Values{"qualifier": {b.cfg.Qualifier}}.Encode()
	}
	return &u
}

// escapeAll percent-encodes every byte but RFC 3986's unreserved ones (the ARN's ':' and '/' too),
// as the AWS SDKs encode a path label.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// defaultCreds returns the default chain's credentials provider, loaded on first use.
func (b *Backend) defaultCreds(ctx context.Context) (*aws.CredentialsCache, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.creds == nil {
		c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(b.region))
		if err != nil {
			return nil, err
		}
		b.creds = aws.NewCredentialsCache(c.Credentials)
	}
	return b.creds, nil
}

func fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	if st := agentgateway.StateFrom(r.Context()); st != nil && err != nil {
		st.Err = fmt.Errorf("agentCore: %w", err)
	}
	agentgateway.WriteError(w, status, msg)
}

// ServeHTTP invokes the runtime with the request's body and streams the answer back.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			fail(w, r, http.StatusBadRequest, "reading request body", err)
			return
		}
		if len(body) > maxBody {
			fail(w, r, http.StatusRequestEntityTooLarge, "request body too large for AgentCore", nil)
			return
		}
	}
	u := b.invocationURL()
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		fail(w, r, http.StatusInternalServerError, "building the invocation", err)
		return
	}
	out.Host = u.Host
	for _, h := range []string{"Content-Type", "Accept", SessionHeader, "X-Amzn-Bedrock-Agentcore-Runtime-User-Id", "Traceparent", "Tracestate"} {
		if v := r.Header.Values(h); len(v) > 0 {
			out.Header[h] = v
		}
	}
	if out.Header.Get("Content-Type") == "" {
		out.Header.Set("Content-Type", "application/json")
	}
	if apply := agentgateway.BackendCredentialsFrom(r.Context()); apply != nil {
		// A backendAuth policy (aws with serviceName bedrock-agentcore, or assumeRole) signs the
		// request as built here: the signature covers the invocation path and host.
		apply(out)
	} else if err := b.sign(r.Context(), out, body); err != nil {
		fail(w, r, http.StatusBadGateway, "backend credentials unavailable", err)
		return
	}
	b.mu.Lock()
	client := b.client
	b.mu.Unlock()
	resp, err := client.Do(out)
	if err != nil {
		fail(w, r, http.StatusBadGateway, "AgentCore unreachable", err)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		switch k {
		case "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Upgrade", "Trailer":
			continue
		}
		h[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	// Stream (SSE answers arrive in pieces): flush after each read.
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func (b *Backend) sign(ctx context.Context, out *http.Request, body []byte) error {
	cache, err := b.defaultCreds(ctx)
	if err != nil {
		return err
	}
	creds, err := cache.Retrieve(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	out.Header.Set("X-Amz-Content-Sha256", payload)
	return b.signer.SignHTTP(ctx, creds, out, payload, ServiceName, b.region, b.now())
}
