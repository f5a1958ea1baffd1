package config

import (
	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/a2a"
)

// The rows of package a2a: the route policy `a2a` (schema A2aPolicy, an empty object), which makes the
// route's host/service backend A2A-aware: agent cards rewritten to the route's public address (request
// scheme and Host plus the matched prefix), JSON-RPC method, task and context id in the state and the
// access log, JSON-RPC errors for bad input, streams governed by an idle timeout. The proxy sits in the
// Backend phase, closest to the backend, so a route timeout does not cut streams; as an inspector it
// reads the call before the route's policies, so that `authorization` rules can use a2a.method and the
// task ids.
var (
	a2aPolicies = []PolicySection{
		Policy("a2a", func(bc *BuildContext, _ a2aPolicySpec) (agentgateway.Policy, error) {
			p, err := a2a.NewPolicy(a2a.Logger(bc.Logger))
			if err != nil {
				return nil, bc.Wrap(err)
			}
			return p, nil
		}),
	}
	a2aBackends = []BackendSection{}
)

// a2aPolicySpec is the schema's A2aPolicy: an empty object (any field is an error).
type a2aPolicySpec struct{}
