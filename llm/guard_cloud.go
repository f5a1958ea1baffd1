package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// A cloud guard asks a provider's content-safety service about the texts of a request or an
// answer: AWS Bedrock Guardrails ([BedrockGuardrails]), Google Cloud Model Armor
// ([GoogleModelArmor]) or Azure AI Content Safety ([AzureContentSafety]). Like a webhook it judges
// a streamed text block when the block ends, and it fails closed unless [Guard.FailOpen].

// cloudService is one content-safety service: it judges texts (input: the client's request;
// output: the model's answer) and returns the texts masked (nil: unchanged) or blocked.
type cloudService interface {
	name() string
	defaultBase() string
	assess(ctx context.Context, c *cloudGuard, texts []string, output bool) (masked []string, blocked bool, err error)
}

// cloudGuard is the transport and credentials shared by the cloud guards.
type cloudGuard struct {
	svc     cloudService
	base    string // scheme://host, the service's own unless Endpoint says otherwise
	rt      http.RoundTripper
	timeout time.Duration
	headers http.Header
	// auth authenticates one call (a SigV4 signature, a bearer token); nil sends none.
	auth func(*http.Request, []byte) error
}

func newCloudGuard(kind guardKind, svc cloudService) *Guard {
	return &Guard{kind: kind, rejection: DefaultRejection, cloud: &cloudGuard{svc: svc}}
}

// endpoint is the base URL of the calls: the configured one, else the service's.
func (c *cloudGuard) endpoint() string {
	if c.base != "" {
		return c.base
	}
	return c.svc.defaultBase()
}

// post sends one JSON call to path (with query) and decodes the answer into out.
func (c *cloudGuard) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	timeout := c.timeout
	if timeout <= 0 {
		timeout = defaultGuardTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := c.endpoint() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range c.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.auth != nil {
		if err := c.auth(req, body); err != nil {
			return fmt.Errorf("%w: %w", ErrCredentials, err)
		}
	}
	rt := c.rt
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %d: %s", c.svc.name(), resp.StatusCode, bytes.TrimSpace(raw[:min(len(raw), 256)]))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: bad answer: %w", c.svc.name(), err)
	}
	return nil
}

// judge runs the guard on texts: the masked texts (nil: unchanged), a rejection, or the failure.
func (c *cloudGuard) judge(ctx context.Context, g *Guard, texts []string, output bool) ([]string, *Error) {
	// Empty texts (an assistant turn with only tool calls) are not sent: the services refuse them.
	var idx []int
	var sent []string
	for i, t := range texts {
		if t != "" {
			idx, sent = append(idx, i), append(sent, t)
		}
	}
	if len(sent) == 0 {
		return nil, nil
	}
	masked, blocked, err := c.svc.assess(ctx, c, sent, output)
	switch {
	case err != nil:
		return nil, failed(g, fmt.Errorf("%s: %w", c.svc.name(), err))
	case blocked:
		return nil, rejectionError(g)
	case masked == nil:
		return nil, nil
	case len(masked) != len(sent):
		return nil, failed(g, fmt.Errorf("%s masked %d texts, want %d", c.svc.name(), len(masked), len(sent)))
	}
	out := append([]string(nil), texts...)
	for k, i := range idx {
		out[i] = masked[k]
	}
	return out, nil
}

// Credentials authenticates a cloud guard's calls the way opt authenticates an upstream: one of
// [AWSSigV4] (Bedrock Guardrails; the service defaults to "bedrock" in the guard's region),
// [GoogleCredentials] (Model Armor), [AzureEntra] (Content Safety), [BearerToken], or [APIKey]
// (Content Safety's Ocp-Apim-Subscription-Key; a bearer token elsewhere).
func (g *Guard) Credentials(opt UpstreamOption) *Guard {
	if g.cloud == nil || opt == nil {
		return g
	}
	var p Provider
	if b, ok := g.cloud.svc.(*bedrockGuard); ok {
		p = b.signer
	}
	u := &Upstream{provider: p}
	opt(u)
	if len(u.errs) > 0 {
		g.err = errors.Join(g.err, fmt.Errorf("%s credentials: %w", g.cloud.svc.name(), errors.Join(u.errs...)))
		return g
	}
	switch {
	case u.auth != nil:
		g.cloud.auth = u.auth
	case u.key != "":
		key := u.key
		if _, ok := g.cloud.svc.(*azureGuard); ok {
			g.cloud.auth = func(r *http.Request, _ []byte) error { r.Header.Set("Ocp-Apim-Subscription-Key", key); return nil }
		} else {
			g.cloud.auth = func(r *http.Request, _ []byte) error { r.Header.Set("Authorization", "Bearer "+key); return nil }
		}
	}
	return g
}

// cloudBase checks an endpoint override: scheme://host[:port], no path.
func cloudBase(base string) (string, error) {
	base = strings.TrimSuffix(base, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return "", fmt.Errorf("endpoint %q: want http(s)://host[:port]", base)
	}
	return base, nil
}

// bearerAuth authenticates calls with access tokens from ts (cached until they expire).
func bearerAuth(ts oauth2.TokenSource) func(*http.Request, []byte) error {
	rts := oauth2.ReuseTokenSource(nil, ts)
	return func(req *http.Request, _ []byte) error {
		tok, err := rts.Token()
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return nil
	}
}
