package gwapi

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// schemaPolicyDrain is how long the policies of a replaced AgentgatewayPolicy stay open (their
// connections, e.g. to an ext_authz service) for the requests still using them.
const schemaPolicyDrain = 30 * time.Second

// schemaPolicyFields maps the TrafficPolicy fields that carry config-schema objects to their
// schema keys, in the order the `policies` object lists them.
func schemaPolicyFields(tp *agwv1a1.TrafficPolicy) []struct {
	key string
	v   *apiextensionsv1.JSON
} {
	out := []struct {
		key string
		v   *apiextensionsv1.JSON
	}{
		{"jwtAuth", tp.JWTAuthentication}, {"basicAuth", tp.BasicAuthentication}, {"extAuthz", tp.ExtAuth},
		{"authorization", tp.Authorization}, {"csrf", tp.CSRF}, {"retry", tp.Retry}, {"transformations", tp.Transformation},
	}
	if hm := tp.HeaderModifiers; hm != nil {
		out = append(out, struct {
			key string
			v   *apiextensionsv1.JSON
		}{"requestHeaderModifier", hm.Request}, struct {
			key string
			v   *apiextensionsv1.JSON
		}{"responseHeaderModifier", hm.Response})
	}
	return out
}

// compiledPolicies are the policies one AgentgatewayPolicy's schema fields compiled to, with the
// build context that owns what they hold open.
type compiledPolicies struct {
	hash uint64
	ps   []agentgateway.Policy
	bc   *config.BuildContext
}

// schemaPolicies compiles the schema-bodied fields of spec.traffic with package config's builders.
// The result is kept across translations while the fields do not change, so that a retranslation
// does not reconnect to an ext_authz service or refetch JWKS; a changed policy's old build is
// closed after a drain.
func (t *translator) schemaPolicies(p *agwv1a1.AgentgatewayPolicy) ([]agentgateway.Policy, error) {
	obj := map[string]json.RawMessage{}
	var order []string
	for _, f := range schemaPolicyFields(p.Spec.Traffic) {
		if f.v == nil || len(f.v.Raw) == 0 {
			continue
		}
		obj[f.key] = f.v.Raw
		order = append(order, f.key)
	}
	if len(obj) == 0 {
		return nil, nil
	}
	doc, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("traffic: %w", err)
	}
	h := fnv.New64a()
	_, _ = h.Write(doc)
	sum := h.Sum64()
	key := nn(p.Namespace, p.Name).String()
	if c, ok := t.transports.cachedPolicies(key, sum); ok {
		return c, nil
	}
	n, err := config.ParseNode("traffic", doc)
	if err != nil {
		return nil, err
	}
	logger := t.opts.Logger
	bc := config.NewBuildContext("", agentgateway.Services{Logger: logger})
	ps, err := bc.BuildPolicies(n)
	if err != nil {
		_ = bc.Close()
		return nil, fmt.Errorf("traffic (compiled as the schema's %v): %w", order, err)
	}
	t.transports.cachePolicies(key, compiledPolicies{hash: sum, ps: ps, bc: bc})
	return ps, nil
}

// cachedPolicies returns the compiled policies of key if they were compiled from the same body.
func (t *transports) cachedPolicies(key string, hash uint64) ([]agentgateway.Policy, bool) {
	if t == nil {
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.policies[key]
	if !ok || c.hash != hash {
		return nil, false
	}
	return c.ps, true
}

// cachePolicies records key's compiled policies; the build they replace is closed after a drain.
func (t *transports) cachePolicies(key string, c compiledPolicies) {
	if t == nil {
		return // a one-off translation: nothing to share with the next one
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.policies == nil {
		t.policies = map[string]compiledPolicies{}
	}
	if old, ok := t.policies[key]; ok {
		time.AfterFunc(schemaPolicyDrain, func() { _ = old.bc.Close() })
	}
	t.policies[key] = c
}

// closePolicies closes every cached build.
func (t *transports) closePolicies() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.policies {
		_ = c.bc.Close()
	}
	t.policies = nil
}
