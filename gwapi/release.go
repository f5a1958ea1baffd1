package gwapi

import (
	"errors"
	"log/slog"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
)

// ReleasePlane is a [DataPlane] that serves nothing but releases what each translation's runtime
// objects hold (MCP federations and their janitors, inference pools' picker connections) once the
// next translation replaces them, and all of them on Close. It is the data plane of a
// control-plane-only process (agentgateway-kube --xds-serve), whose Gateways are served elsewhere
// from the [SchemaDocument]: a plane that dropped the configurations would leak those resources on
// every translation.
type ReleasePlane struct {
	mu       sync.Mutex
	gateways map[types.NamespacedName]*agentgateway.Gateway
}

// Apply holds cfg (never started) in place of the Gateway's previous configuration, which is
// closed; a nil cfg closes the Gateway's.
func (p *ReleasePlane) Apply(key types.NamespacedName, cfg *agentgateway.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gateways == nil {
		p.gateways = map[types.NamespacedName]*agentgateway.Gateway{}
	}
	g := p.gateways[key]
	if cfg == nil {
		if g == nil {
			return nil
		}
		delete(p.gateways, key)
		return g.Close()
	}
	if g == nil {
		g = agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
		p.gateways[key] = g
	}
	return g.Apply(*cfg)
}

// Close releases every configuration held.
func (p *ReleasePlane) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, g := range p.gateways {
		errs = append(errs, g.Close())
	}
	p.gateways = nil
	return errors.Join(errs...)
}
