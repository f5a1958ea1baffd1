package agentgateway

import (
	"context"
	"net/http"
)

type backendCredentialsKey struct{}

// WithBackendCredentials returns a context that records apply, a function that puts a backend-auth
// policy's credential on a request to the upstream. A backend that forwards the inbound request (the
// HTTP backend) already carries what the policy wrote into it; a backend that builds its own upstream
// requests (an MCP federation's targets) calls [BackendCredentialsFrom] on each of them, so
// backendAuth means the same on both. Functions recorded by nested policies all run, outermost first;
// a nil apply drops what was recorded before (a backend's own credentials replace a route's).
func WithBackendCredentials(ctx context.Context, apply func(*http.Request)) context.Context {
	if apply == nil {
		return context.WithValue(ctx, backendCredentialsKey{}, apply)
	}
	if prev := BackendCredentialsFrom(ctx); prev != nil {
		inner := apply
		apply = func(r *http.Request) { prev(r); inner(r) }
	}
	return context.WithValue(ctx, backendCredentialsKey{}, apply)
}

// BackendCredentialsFrom returns the function recorded by [WithBackendCredentials], or nil.
func BackendCredentialsFrom(ctx context.Context) func(*http.Request) {
	f, _ := ctx.Value(backendCredentialsKey{}).(func(*http.Request))
	return f
}
