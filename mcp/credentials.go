package mcp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	agentgateway "github.com/agentgw/agentgateway"
)

// credentialSlot receives the credential function a target's own backend-auth policy recorded.
type credentialSlot struct {
	apply func(*http.Request)
	ok    bool
}

type credentialSlotKey struct{}

// compileAuth wraps the target's BackendAuth policy once, around a handler that only collects what
// the policy recorded with agentgateway.WithBackendCredentials.
func (t *target) compileAuth() {
	if t.BackendAuth == nil {
		return
	}
	t.authH = t.BackendAuth.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if s, ok := r.Context().Value(credentialSlotKey{}).(*credentialSlot); ok {
			s.apply, s.ok = agentgateway.BackendCredentialsFrom(r.Context()), true
		}
	}))
}

// credentials returns the function that puts backend credentials on a request to t: those of the
// target's own BackendAuth when it has one (it wins over the route's), else those a route's backend-auth
// policy recorded on ctx. It fails when the target's policy could not produce a credential.
func (t *target) credentials(ctx context.Context) (func(*http.Request), error) {
	if t.authH == nil {
		return agentgateway.BackendCredentialsFrom(ctx), nil
	}
	slot := &credentialSlot{}
	u, _ := url.Parse(t.URL)
	if u == nil {
		u = &url.URL{}
	}
	// The route's credentials are dropped: they are not meant for a target with its own.
	ctx = agentgateway.WithBackendCredentials(context.WithValue(ctx, credentialSlotKey{}, slot), nil)
	r := (&http.Request{Method: http.MethodPost, URL: u, Host: u.Host, Header: http.Header{}, Body: http.NoBody}).WithContext(ctx)
	t.authH.ServeHTTP(discardWriter{}, r)
	if !slot.ok {
		return nil, fmt.Errorf("%w: %s: backend credentials unavailable", ErrTargetUnavailable, t.Name)
	}
	return slot.apply, nil
}

// discardWriter absorbs what a target's backend-auth policy writes when it refuses.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
