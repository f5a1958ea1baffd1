package config

import (
	"cmp"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
	"github.com/agentgw/agentgateway/policy/awsauth"
	"github.com/agentgw/agentgateway/policy/extauthz"
	"github.com/agentgw/agentgateway/policy/gcpauth"
	"github.com/agentgw/agentgateway/policy/remoteratelimit"
)

// policyPolicies are the route policies of package policy, one row per schema key.
var policyPolicies = []PolicySection{
	Policy("cors", func(bc *BuildContext, s policy.CORSSpec) (agentgateway.Policy, error) {
		return at(bc)(policy.NewCORS(s))
	}),
	Policy("jwtAuth", func(bc *BuildContext, s policy.JWTSpec) (agentgateway.Policy, error) {
		for i := range s.Providers {
			s.Providers[i].JWKS.File = bc.File(s.Providers[i].JWKS.File)
		}
		if s.JWKS != nil {
			s.JWKS.File = bc.File(s.JWKS.File)
		}
		s.Mode = cmp.Or(s.Mode, policy.ModeOptional) // the schema's default
		return at(bc)(policy.NewJWT(s))
	}),
	Policy("apiKey", func(bc *BuildContext, s policy.APIKeySpec) (agentgateway.Policy, error) {
		s.Mode = cmp.Or(s.Mode, policy.ModeOptional) // the schema's default
		return at(bc)(policy.NewAPIKey(s))
	}),
	Policy("basicAuth", func(bc *BuildContext, s policy.BasicAuthSpec) (agentgateway.Policy, error) {
		s.Htpasswd.File = bc.File(s.Htpasswd.File)
		s.Mode = cmp.Or(s.Mode, policy.ModeOptional) // the schema's default
		return at(bc)(policy.NewBasicAuth(s))
	}),
	Policy("extAuthz", func(bc *BuildContext, s extauthz.Spec) (agentgateway.Policy, error) {
		host, err := serviceHost(bc, s.Service)
		if err != nil {
			return nil, err
		}
		if host != "" {
			s.Host, s.Service = host, nil
		}
		x, err := extauthz.New(s)
		if err != nil {
			return nil, policy.ConfigPath(bc.Path, err)
		}
		bc.OnClose(x)
		return x, nil
	}),
	Policy("authorization", func(bc *BuildContext, s policy.AuthorizationSpec) (agentgateway.Policy, error) {
		return at(bc)(policy.NewAuthorization(s))
	}),
	// localRateLimit is a list of buckets or {conditional: [...]}.
	Policy("localRateLimit", func(bc *BuildContext, n Node) (agentgateway.Policy, error) {
		var s policy.LocalRateLimitSpec
		var err error
		if n.n != nil && n.n.Kind == yaml.SequenceNode {
			s.Limits, err = Decode[[]policy.RateLimit](n)
		} else {
			s, err = Decode[policy.LocalRateLimitSpec](n)
		}
		if err != nil {
			return nil, err
		}
		return at(bc)(policy.NewLocalRateLimit(s))
	}),
	Policy("remoteRateLimit", func(bc *BuildContext, s remoteratelimit.Spec) (agentgateway.Policy, error) {
		host, err := serviceHost(bc, s.Service)
		if err != nil {
			return nil, err
		}
		if host != "" {
			s.Host, s.Service = host, nil
		}
		rl, err := remoteratelimit.New(s)
		if err != nil {
			return nil, policy.ConfigPath(bc.Path, err)
		}
		bc.OnClose(rl)
		return rl, nil
	}),
	Policy("timeout", func(bc *BuildContext, s policy.TimeoutSpec) (agentgateway.Policy, error) {
		return at(bc)(policy.NewTimeout(s))
	}),
	Policy("retry", func(bc *BuildContext, s policy.RetrySpec) (agentgateway.Policy, error) {
		return at(bc)(policy.NewRetry(s))
	}),
	Policy("requestMirror", func(bc *BuildContext, s MirrorSpec) (agentgateway.Policy, error) {
		sub := *bc
		sub.Path = bc.Path + ".backend"
		target, err := sub.Backend(s.Backend)
		if err != nil {
			return nil, err
		}
		m, err := policy.NewMirror(policy.MirrorSpec{Percentage: s.Percentage, Logger: bc.Logger}, target)
		if err != nil {
			return nil, policy.ConfigPath(bc.Path, err)
		}
		bc.OnClose(m)
		return m, nil
	}),
	Policy("transformations", func(bc *BuildContext, s policy.TransformationSpec) (agentgateway.Policy, error) {
		return at(bc)(policy.NewTransformation(s))
	}),
	Policy("backendTLS", func(bc *BuildContext, s policy.BackendTLSSpec) (agentgateway.Policy, error) {
		s.Cert, s.Key, s.Root = bc.File(s.Cert), bc.File(s.Key), bc.File(s.Root)
		s.Logger = bc.Logger
		b, err := policy.NewBackendTLS(s)
		if err != nil {
			return nil, policy.ConfigPath(bc.Path, err)
		}
		bc.OnClose(b)
		return b, nil
	}),
	Policy("backendAuth", buildBackendAuth),
}

// backendAuthSpec is the schema's BackendAuth: exactly one of passthrough, key, gcp and aws. The
// cloud kinds are packages of their own, so that package policy links no cloud SDK.
type backendAuthSpec struct {
	Passthrough *policy.PassthroughAuth `json:"passthrough,omitempty"`
	Key         *policy.KeyAuth         `json:"key,omitempty"`
	GCP         *gcpauth.Spec           `json:"gcp,omitempty"`
	AWS         *awsauth.Spec           `json:"aws,omitempty"`
}

func buildBackendAuth(bc *BuildContext, s backendAuthSpec) (agentgateway.Policy, error) {
	n := 0
	for _, set := range []bool{s.Passthrough != nil, s.Key != nil, s.GCP != nil, s.AWS != nil} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return nil, agentgateway.Errorf(bc.Path, "set exactly one of passthrough, key, gcp, aws")
	case s.GCP != nil:
		if s.GCP.Credential != nil {
			s.GCP.Credential.File = bc.File(s.GCP.Credential.File)
		}
		p, err := gcpauth.New(*s.GCP)
		return p, policy.ConfigPath(bc.Path+".gcp", err)
	case s.AWS != nil:
		p, err := awsauth.New(*s.AWS)
		return p, policy.ConfigPath(bc.Path+".aws", err)
	}
	if s.Key != nil {
		s.Key.Value.File = bc.File(s.Key.Value.File)
	}
	return at(bc)(policy.NewBackendAuth(policy.BackendAuthSpec{Passthrough: s.Passthrough, Key: s.Key}))
}

// MirrorSpec is the schema's RequestMirror: the backend reference and the fraction mirrored.
type MirrorSpec struct {
	Backend    BackendRef `json:"backend"`
	Percentage float64    `json:"percentage"`
}

// at locates a constructor's error under the section's path.
func at(bc *BuildContext) func(agentgateway.Policy, error) (agentgateway.Policy, error) {
	return func(p agentgateway.Policy, err error) (agentgateway.Policy, error) {
		if err != nil {
			return nil, policy.ConfigPath(bc.Path, err)
		}
		return p, nil
	}
}

// serviceHost turns a {name, port} service reference into "host:port" (the name may be
// "namespace/hostname"); "" when there is none.
func serviceHost(bc *BuildContext, svc any) (string, error) {
	if svc == nil {
		return "", nil
	}
	m, ok := svc.(map[string]any)
	name, _ := m["name"].(string)
	port, _ := m["port"].(int)
	if f, isF := m["port"].(float64); isF {
		port = int(f)
	}
	if _, h, found := strings.Cut(name, "/"); found {
		name = h
	}
	if !ok || name == "" || port <= 0 || port > 65535 {
		return "", agentgateway.Errorf(bc.Path+".service", "want {name, port}")
	}
	return net.JoinHostPort(name, strconv.Itoa(port)), nil
}
