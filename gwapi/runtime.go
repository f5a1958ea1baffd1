package gwapi

import (
	"context"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
)

// Runtime is a [DataPlane] that runs one [agentgateway.Gateway] per Kubernetes Gateway: each has its
// own addresses, so their ports do not collide. A configuration change is an atomic Apply.
type Runtime struct {
	// Options returns the options of the gateway for a Kubernetes Gateway, e.g. a listen function
	// that binds the Gateway's own address ([agentgateway.WithListenFunc]).
	Options func(gateway types.NamespacedName) []agentgateway.Option

	mu       sync.Mutex
	gateways map[types.NamespacedName]*running
}

type running struct {
	gw     *agentgateway.Gateway
	cancel context.CancelFunc
}

// Apply programs (or, with a nil cfg, stops) the gateway of a Kubernetes Gateway.
func (rt *Runtime) Apply(key types.NamespacedName, cfg *agentgateway.Config) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.gateways == nil {
		rt.gateways = map[types.NamespacedName]*running{}
	}
	cur := rt.gateways[key]
	if cfg == nil {
		if cur != nil {
			delete(rt.gateways, key)
			cur.cancel()
			return cur.gw.Wait()
		}
		return nil
	}
	if cur != nil {
		return cur.gw.Apply(*cfg)
	}
	var opts []agentgateway.Option
	if rt.Options != nil {
		opts = rt.Options(key)
	}
	gw := agentgateway.New(opts...)
	if err := gw.Apply(*cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := gw.Start(ctx); err != nil {
		cancel()
		return err
	}
	rt.gateways[key] = &running{gw: gw, cancel: cancel}
	return nil
}

// Gateway returns the running gateway of a Kubernetes Gateway, or nil.
func (rt *Runtime) Gateway(key types.NamespacedName) *agentgateway.Gateway {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if r := rt.gateways[key]; r != nil {
		return r.gw
	}
	return nil
}

// Close stops every gateway and waits for them to drain.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	gws := rt.gateways
	rt.gateways = nil
	rt.mu.Unlock()
	var errs []error
	for _, r := range gws {
		r.cancel()
		errs = append(errs, r.gw.Wait(), r.gw.Close())
	}
	return errors.Join(errs...)
}
