package a2a

import (
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
)

// NewPolicy returns the route policy of agentgateway's `a2a` key: [Wrap] with opts, after checking
// them (a bad rule is an error here rather than a 500 later). With no options it rewrites agent cards
// from the request's own scheme and Host plus the route's matched prefix, reads JSON-RPC calls and
// bounds idle streams. The policy runs in the Backend phase, closest to the backend, so that the
// route's timeout policy does not cut streams, and inspects each call before the route's policies run,
// so that `authorization` rules can use a2a.method and the task ids.
func NewPolicy(opts ...Option) (agentgateway.Policy, error) {
	o := buildOptions(opts)
	if err := newProxy(nopHandler{}, o).err; err != nil {
		return nil, err
	}
	return Wrap(opts...), nil
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}
