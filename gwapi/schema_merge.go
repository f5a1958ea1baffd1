package gwapi

import (
	"cmp"
	"maps"
	"slices"
	"time"

	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// The schema's `policies` object has one entry per key, where the translation stacks every policy
// attached to a route in order: the Gateway's, the route's, the rule's (each oldest policy first,
// by creationTimestamp then namespace/name, Gateway API's conflict rule), then the rule's filters.
// The document resolves a key set twice before rendering: the first setter in that order wins, as
// the outermost of the stacked policies answers first in the translation. Two keys combine instead,
// as stacking makes them: localRateLimit (every limit applies) and timeout (the shorter applies).

// policiesByAge returns the snapshot's policies in the translation's order (indexPolicies).
func (e *schemaEmitter) policiesByAge() []*agwv1a1.AgentgatewayPolicy {
	out := make([]*agwv1a1.AgentgatewayPolicy, 0, len(e.t.snap.Policies))
	for i := range e.t.snap.Policies {
		out = append(out, &e.t.snap.Policies[i])
	}
	slices.SortStableFunc(out, func(a, b *agwv1a1.AgentgatewayPolicy) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// mergeRoute is mergeFirst for the policies of a route, where backendTLS is the exception: the
// translation's route backendTLS hands the backend its transport, so the innermost (the rule's over
// the route's over the Gateway's, and the newer policy on one target) is the one used.
func mergeRoute(into, later map[string]any) {
	tls, ok := later["backendTLS"]
	mergeFirst(into, later)
	if ok {
		into["backendTLS"] = tls
	}
}

// mergeFirst adds the keys of later to into, resolving a key both set as described above.
func mergeFirst(into, later map[string]any) {
	for _, k := range slices.Sorted(maps.Keys(later)) {
		prev, dup := into[k]
		switch {
		case !dup:
			into[k] = later[k]
		case k == "localRateLimit":
			into[k] = append(slices.Clone(prev.([]any)), later[k].([]any)...)
		case k == "timeout":
			into[k] = shorterTimeouts(prev.(map[string]any), later[k].(map[string]any))
		}
	}
}

// shorterTimeouts keeps, field by field, the shorter of two timeout policies' durations.
func shorterTimeouts(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	for k, v := range b {
		bd, errB := time.ParseDuration(v.(string))
		ad, errA := time.ParseDuration(stringOf(out[k]))
		if errA != nil || (errB == nil && bd < ad) {
			out[k] = v
		}
	}
	return out
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
