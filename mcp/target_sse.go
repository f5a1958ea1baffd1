package mcp

import (
	"context"
	"fmt"
	"net/http"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// dialSSE connects to a legacy HTTP+SSE target: a GET stream that names the POST endpoint. The
// go-sdk transport does the framing; target headers and the forwarded Authorization are added by a
// round tripper.
func (f *Federation) dialSSE(ctx context.Context, t *target) (upstream, error) {
	httpc, _ := t.client()
	rt := httpc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	auth, _ := ctx.Value(authKey{}).(string)
	// The stream's requests carry the credentials of the request that opened it.
	creds, err := t.credentials(ctx)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: headerRoundTripper{rt: rt, t: t, auth: auth, creds: creds}}
	// The stream outlives the request that opened it.
	conn, err := (&sdk.SSEClientTransport{Endpoint: t.URL, HTTPClient: hc}).Connect(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTargetUnavailable, t.Name, err)
	}
	return newConnUpstream(t, conn, nil), nil
}

type headerRoundTripper struct {
	rt    http.RoundTripper
	t     *target
	auth  string
	creds func(*http.Request)
}

func (h headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(h.t.Headers) == 0 && h.creds == nil && (h.auth == "" || !h.t.ForwardAuthorization) {
		return h.rt.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	for k, vs := range h.t.Headers {
		r.Header[k] = vs
	}
	if h.t.ForwardAuthorization && h.auth != "" {
		r.Header.Set("Authorization", h.auth)
	}
	if h.creds != nil {
		h.creds(r)
	}
	return h.rt.RoundTrip(r)
}
