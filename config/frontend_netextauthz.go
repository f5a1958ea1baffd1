package config

import (
	"context"
	"log/slog"
	"sync"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/extauthz"
)

// netExtAuthz is frontendPolicies.networkExtAuthz at run time: its authorizer (and gRPC connection)
// is made on the first connection and closed by FrontendPolicies.Close.
type netExtAuthz struct {
	cfg  extauthz.Config
	once sync.Once
	x    *extauthz.Authorizer
	err  error
	mu   sync.Mutex // guards closing against a first use
	done bool
}

// netExtAuthzConfig validates frontendPolicies.networkExtAuthz: an Envoy ext_authz gRPC service asked
// once per connection, so only what a connection has is sent (no headers or body) and a denial closes
// the connection (no status).
func netExtAuthzConfig(s *extAuthzSpec) (extauthz.Config, []error) {
	const p = "frontendPolicies.networkExtAuthz"
	var errs []error
	refuse := func(field, why string) { errs = append(errs, agentgateway.Errorf(p+"."+field, "%s", why)) }
	switch {
	case s.Host == "":
		refuse("host", "required (the ext_authz gRPC service, host:port); service and backend references are not supported here")
	case s.Policies != nil:
		refuse("policies", "not supported")
	}
	if pr := s.Protocol; pr != nil && pr.HTTP != nil {
		refuse("protocol.http", "a connection-level check is an ext_authz gRPC Check (no HTTP request to forward): use grpc")
	}
	if len(s.IncludeRequestHeaders) > 0 || s.IncludeRequestBody != nil {
		refuse("includeRequestHeaders", "a connection has no request headers or body to send")
	}
	if s.Cache != nil {
		refuse("cache", "not supported for connection checks")
	}
	cfg := extauthz.Config{Host: s.Host, Timeout: s.Timeout, GRPC: &extauthz.GRPC{}}
	if pr := s.Protocol; pr != nil && pr.GRPC != nil {
		if pr.GRPC.Metadata != nil {
			refuse("protocol.grpc.metadata", "not supported for connection checks (no request to compute it from)")
		}
		cfg.GRPC.Context = pr.GRPC.Context
	}
	if f := s.FailureMode; f != nil {
		if f.DenyStatus != 0 {
			refuse("failureMode", "denyWithStatus: a denied connection is closed, there is no status to send (use deny)")
		}
		cfg.FailureMode = f.Mode
	}
	return cfg, errs
}

// check asks the service about c, making the authorizer on first use.
func (n *netExtAuthz) check(ctx context.Context, c *agentgateway.ConnInfo) bool {
	n.once.Do(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.done {
			n.err = context.Canceled
			return
		}
		n.x, n.err = extauthz.New(n.cfg)
	})
	if n.err != nil {
		slog.Warn("networkExtAuthz", "error", n.err)
		return n.cfg.FailureMode == agentgateway.FailOpen
	}
	ok, err := n.x.CheckConn(ctx, c)
	if err != nil {
		slog.Warn("networkExtAuthz check failed", "source", c.Source, "allowed", ok, "error", err)
	}
	return ok
}

func (n *netExtAuthz) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.done = true
	if n.x != nil {
		return n.x.Close()
	}
	return nil
}

// Close releases what the connection policies of Options opened (networkExtAuthz's gRPC connection).
// Call it once the gateway those options configured has stopped.
func (fp *FrontendPolicies) Close() error {
	if fp.netExt == nil {
		return nil
	}
	return fp.netExt.close()
}

// connAuthorizer is the per-connection check of networkAuthorization's rules, then networkExtAuthz
// (agentgateway's order); nil when neither is set.
func (fp *FrontendPolicies) connAuthorizer() func(context.Context, *agentgateway.ConnInfo) bool {
	rs := fp.netRules
	if fp.NetworkExtAuthz != nil && fp.netExt == nil {
		cfg, _ := netExtAuthzConfig(fp.NetworkExtAuthz) // validated by Load
		fp.netExt = &netExtAuthz{cfg: cfg}
	}
	ext := fp.netExt
	if rs == nil && ext == nil {
		return nil
	}
	return func(ctx context.Context, c *agentgateway.ConnInfo) bool {
		if rs != nil && !rs.Allowed(ctx, connActivation(c)) {
			return false
		}
		return ext == nil || ext.check(ctx, c)
	}
}
