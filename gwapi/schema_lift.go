package gwapi

import (
	"reflect"
	"slices"
)

// mcpAuthentication is a route policy in the schema (it answers the route's resource-metadata path
// and challenges before the MCP backend is reached), while an AgentgatewayPolicy may attach it to an
// AgentgatewayBackend; agentgateway applies it at the route serving that backend. The document
// does the same: the backend hands it to the rule (under liftedKey, never rendered), which puts it
// among its policies when every backend of the rule brings the same one.

// liftedKey holds, in a rendered backend, the route policies it brings; rule removes it.
const liftedKey = "\x00routePolicies"

// routeOnlyKeys are the spec.backend keys the schema has only as route policies.
var routeOnlyKeys = []string{"mcpAuthentication"}

// liftFromBackend moves the route-only keys out of a backend's policies; who names the backend.
func liftFromBackend(pol map[string]any, who string) map[string]any {
	var out map[string]any
	for _, k := range routeOnlyKeys {
		if v, ok := pol[k]; ok {
			if out == nil {
				out = map[string]any{"\x00who": who}
			}
			out[k] = v
			delete(pol, k)
		}
	}
	return out
}

// takeLifted removes and returns what a rendered backend brings to its route (nil for nothing).
func takeLifted(b map[string]any) map[string]any {
	l, _ := b[liftedKey].(map[string]any)
	delete(b, liftedKey)
	return l
}

// liftRoutePolicies adds to a rule's policies what its valid backends bring, one entry each; the
// rule's own (an AgentgatewayPolicy on the route or Gateway) come first and win, as mergeFirst
// resolves. Backends that disagree (one brings mcpAuthentication, another a different one or none)
// cannot share the rule's one policy: why says so and the rule fails closed.
func liftRoutePolicies(pol map[string]any, lifted []map[string]any) string {
	if !slices.ContainsFunc(lifted, func(l map[string]any) bool { return l != nil }) {
		return ""
	}
	first := lifted[0]
	for _, l := range lifted[1:] {
		if !reflect.DeepEqual(without(l, "\x00who"), without(first, "\x00who")) {
			who := first
			if who == nil {
				who = l
			}
			return "spec.backend.mcp.authentication of AgentgatewayBackend " + who["\x00who"].(string) +
				" applies at its route, whose other backends do not share it: give the backend a rule of its own"
		}
	}
	mergeFirst(pol, without(first, "\x00who"))
	return ""
}

// without returns m less key k (nil stays nil).
func without(m map[string]any, k string) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for key, v := range m {
		if key != k {
			out[key] = v
		}
	}
	return out
}
