package a2a

import (
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
)

// PolicySpec is the route policy `a2a` of agentgateway's schema ($defs A2aPolicy): an empty object that
// makes the route's host/service backend A2A-aware. Config builds it with [NewPolicy].
type PolicySpec struct{}

// NewPolicy returns the `a2a` route policy: [Wrap] with the default options (card rewriting from the
// request's own scheme and Host plus the route's matched prefix, JSON-RPC awareness, stream idle
// timeout). The config applies it in the Backend phase, closest to the backend, so that the route's
// timeout policy does not cut streams, and adds [Inspect] just before the Authz phase so that the
// route's `authorization` rules can use a2a.method and the task ids. From Go, put [Inspect] in front of
// your authorization policy, or use [Authorize].
func NewPolicy(spec PolicySpec, opts ...Option) (agentgateway.Policy, error) {
	o := buildOptions(opts)
	if err := newProxy(nopHandler{}, o).err; err != nil {
		return nil, err
	}
	return Wrap(opts...), nil
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}
