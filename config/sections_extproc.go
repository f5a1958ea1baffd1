package config

import (
	"crypto/tls"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
	"github.com/agentgw/agentgateway/policy/extproc"
)

// extProcPolicies is the extProc route policy (also accepted on gateways, listeners, llm.policies
// and mcp.policies, which build their policies from the same table).
var extProcPolicies = []PolicySection{Policy("extProc", buildExtProc)}

// extProcSpec is the schema's ExtProc (its conditional form is built by buildConditional, conditional.go).
type extProcSpec struct {
	Host               string                       `json:"host"`
	Service            *ServiceRef                  `json:"service"`
	Backend            string                       `json:"backend"`
	Policies           *extProcPoliciesSpec         `json:"policies"`
	FailureMode        string                       `json:"failureMode"`
	MetadataContext    map[string]map[string]string `json:"metadataContext"`
	RequestAttributes  map[string]string            `json:"requestAttributes"`
	ResponseAttributes map[string]string            `json:"responseAttributes"`
	ProcessingOptions  *processingOptionsSpec       `json:"processingOptions"`
}

// extProcPoliciesSpec is the part of SimpleLocalBackendPolicies served for the processor's
// connection: backendTLS. The other keys are refused.
type extProcPoliciesSpec struct {
	BackendTLS            *backendTLSSpec `json:"backendTLS"`
	BackendAuth           any             `json:"backendAuth"`
	RequestHeaderModifier any             `json:"requestHeaderModifier"`
	Http                  any             `json:"http"`
	TCP                   any             `json:"tcp"`
	Health                any             `json:"health"`
	Tunnel                any             `json:"backendTunnel"`
}

// processingOptionsSpec is the schema's ProcessingOptions.
type processingOptionsSpec struct {
	RequestBodyMode     string `json:"requestBodyMode"`
	ResponseBodyMode    string `json:"responseBodyMode"`
	RequestHeaderMode   string `json:"requestHeaderMode"`
	ResponseHeaderMode  string `json:"responseHeaderMode"`
	RequestTrailerMode  string `json:"requestTrailerMode"`
	ResponseTrailerMode string `json:"responseTrailerMode"`
	AllowModeOverride   bool   `json:"allowModeOverride"`
}

func buildExtProc(bc *BuildContext, s extProcSpec) (agentgateway.Policy, error) {
	cfg, err := extProcConfig(bc, s)
	if err != nil {
		return nil, err
	}
	x, err := extproc.New(cfg)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	bc.OnClose(x)
	return x, nil
}

// extProcConfig translates one ExtProc (bc at its path) into the policy's config.
func extProcConfig(bc *BuildContext, s extProcSpec) (extproc.Config, error) {
	cfg := extproc.Config{MetadataContext: s.MetadataContext, RequestAttributes: s.RequestAttributes, ResponseAttributes: s.ResponseAttributes,
		RequestBody: extproc.BodyStreamed, MaxBodyBytes: bc.MaxBufferSize}
	switch {
	case s.Backend != "":
		return cfg, bc.Errorf("backend", "only a host or service reference is supported here")
	case s.Service != nil && s.Host != "":
		return cfg, bc.Errorf("host", "set host or service, not both")
	case s.Service != nil:
		hp, err := bc.Service("service", *s.Service)
		if err != nil {
			return cfg, err
		}
		cfg.Address = hp
	case s.Host == "":
		return cfg, bc.Errorf("host", "set host or service")
	default:
		cfg.Address = strings.TrimPrefix(strings.TrimPrefix(s.Host, "http://"), "grpc://")
	}
	switch s.FailureMode {
	case "", "failClosed":
	case "failOpen":
		cfg.FailureMode = agentgateway.FailOpen
	default:
		return cfg, bc.Errorf("failureMode", "want failClosed or failOpen, got %q", s.FailureMode)
	}
	if p := s.Policies; p != nil {
		switch {
		case p.BackendAuth != nil:
			return cfg, bc.Errorf("policies.backendAuth", "not supported for extProc (backendTLS is)")
		case p.RequestHeaderModifier != nil, p.Http != nil, p.TCP != nil, p.Health != nil, p.Tunnel != nil:
			return cfg, bc.Errorf("policies", "only backendTLS is supported for extProc")
		case p.BackendTLS != nil:
			bt, err := buildBackendTLS(bc.At("policies.backendTLS"), *p.BackendTLS)
			if err != nil {
				return cfg, err
			}
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
			if c := bt.(*policy.BackendTLS).Transport().TLSClientConfig; c != nil {
				cfg.TLS = c.Clone()
			}
			cfg.TLS.NextProtos = []string{"h2"} // gRPC; the backend's ALPN list is for HTTP

		}
	}
	if o := s.ProcessingOptions; o != nil {
		switch o.RequestBodyMode {
		case "", "fullDuplexStreamed", "streamed":
		case "none":
			cfg.RequestBody = extproc.BodyNone
		case "buffered":
			cfg.RequestBody = extproc.BodyBuffered
		case "bufferedPartial":
			cfg.RequestBody = extproc.BodyBufferedPartial
		default:
			return cfg, bc.Errorf("processingOptions.requestBodyMode", "want none, buffered, bufferedPartial or fullDuplexStreamed, got %q", o.RequestBodyMode)
		}
		for _, m := range []struct {
			field, v string
			skip     *bool
		}{{"requestHeaderMode", o.RequestHeaderMode, &cfg.SkipRequestHeaders}, {"responseHeaderMode", o.ResponseHeaderMode, &cfg.SkipResponseHeaders}} {
			switch m.v {
			case "", "send":
			case "skip":
				*m.skip = true
			default:
				return cfg, bc.Errorf("processingOptions."+m.field, "want send or skip, got %q", m.v)
			}
		}
		// Response bodies and trailers are never sent (see the compatibility row); the modes are
		// checked so a typo is still an error.
		switch o.ResponseBodyMode {
		case "", "none", "buffered", "bufferedPartial", "fullDuplexStreamed", "streamed":
		default:
			return cfg, bc.Errorf("processingOptions.responseBodyMode", "want none, buffered, bufferedPartial or fullDuplexStreamed, got %q", o.ResponseBodyMode)
		}
	}
	return cfg, nil
}
