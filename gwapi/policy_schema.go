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

// schemaField is one CRD field that carries a config-schema object: its path in the CRD, its key in
// the schema's `policies` object, and its body.
type schemaField struct {
	crd, key string
	v        *apiextensionsv1.JSON
}

// schemaPolicyFields lists the TrafficPolicy fields that carry config-schema objects, in the order
// the `policies` object lists them.
func schemaPolicyFields(tp *agwv1a1.TrafficPolicy) []schemaField {
	out := []schemaField{
		{"traffic.jwtAuthentication", "jwtAuth", tp.JWTAuthentication}, {"traffic.basicAuthentication", "basicAuth", tp.BasicAuthentication},
		{"traffic.extAuth", "extAuthz", tp.ExtAuth}, {"traffic.extProc", "extProc", tp.ExtProc},
		{"traffic.authorization", "authorization", tp.Authorization}, {"traffic.csrf", "csrf", tp.CSRF},
		{"traffic.retry", "retry", tp.Retry}, {"traffic.transformation", "transformations", tp.Transformation},
		{"traffic.directResponse", "directResponse", tp.DirectResponse},
	}
	if rl := tp.RateLimit; rl != nil {
		out = append(out, schemaField{"traffic.rateLimit.global", "remoteRateLimit", rl.Global})
	}
	if hm := tp.HeaderModifiers; hm != nil {
		out = append(out, schemaField{"traffic.headerModifiers.request", "requestHeaderModifier", hm.Request},
			schemaField{"traffic.headerModifiers.response", "responseHeaderModifier", hm.Response})
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
func (t *translator) schemaPolicies(p *agwv1a1.AgentgatewayPolicy) ([]agentgateway.Policy, error) {
	return t.compileSchema(nn(p.Namespace, p.Name).String(), "traffic", schemaPolicyFields(p.Spec.Traffic))
}

// compileSchema compiles fields as one schema `policies` object with package config's builders;
// errors are located at the CRD's field paths (root.<schema key> becomes the field's path). The
// result is kept (under cacheKey) across translations while the bodies do not change, so that a
// retranslation does not reconnect to an ext_authz service or refetch JWKS; a changed build is
// closed after a drain.
func (t *translator) compileSchema(cacheKey, root string, fields []schemaField) ([]agentgateway.Policy, error) {
	obj := map[string]json.RawMessage{}
	var order []string
	for _, f := range fields {
		if f.v == nil || len(f.v.Raw) == 0 {
			continue
		}
		if err := refuseFiles(f.v.Raw); err != nil {
			return nil, fmt.Errorf("%s: %w", f.crd, err)
		}
		obj[f.key] = f.v.Raw
		order = append(order, f.key)
	}
	if len(obj) == 0 {
		return nil, nil
	}
	doc, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root, err)
	}
	h := fnv.New64a()
	_, _ = h.Write(doc)
	sum := h.Sum64()
	if c, ok := t.transports.cachedPolicies(cacheKey, sum); ok {
		return c, nil
	}
	n, err := config.ParseNode(root, doc)
	if err != nil {
		return nil, err
	}
	bc := config.NewBuildContext("", agentgateway.Services{Logger: t.opts.Logger})
	ps, err := bc.BuildPolicies(n)
	if err != nil {
		_ = bc.Close()
		renames := map[string]string{}
		for _, f := range fields {
			renames[root+"."+f.key] = f.crd
		}
		return nil, fmt.Errorf("%s (compiled as the schema's %v): %w", root, order, renamePaths(err, renames))
	}
	t.transports.cachePolicies(cacheKey, compiledPolicies{hash: sum, ps: ps, bc: bc})
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
