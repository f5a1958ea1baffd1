package config

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// FrontendPolicies is the `frontendPolicies` section: the policies that apply to all traffic. The
// access log (accessLog, or its alias logging), tracing and http are honoured; the other keys of the
// schema's LocalFrontendPolicies are rejected as not supported yet.
type FrontendPolicies struct {
	// AccessLog adds fields to, removes fields from and filters the access log.
	AccessLog *AccessLogPolicy `json:"accessLog"`
	// Tracing exports the request spans to an OTLP collector.
	Tracing *FrontendTracing `json:"tracing"`
	// HTTP tunes the HTTP server of every port.
	HTTP *FrontendHTTP `json:"http"`
	// TLS, TCP, NetworkAuthorization, ProxyProtocol (alias proxy) and Connect are the connection-level
	// policies (frontend_l4.go); they are read at start.
	TLS                  *FrontendTLSSpec          `json:"tls"`
	TCP                  *FrontendTCPSpec          `json:"tcp"`
	NetworkAuthorization *NetworkAuthorizationSpec `json:"networkAuthorization"`
	ProxyProtocol        *ProxyProtocolSpec        `json:"proxyProtocol"`
	Connect              *ConnectSpec              `json:"connect"`
	// NetworkExtAuthz asks an Envoy ext_authz gRPC service about every connection
	// (frontend_netextauthz.go); read at start.
	NetworkExtAuthz *extAuthzSpec `json:"networkExtAuthz"`

	netRules *cel.RuleSet
	netExt   *netExtAuthz
}

// AccessLogPolicy is the schema's LoggingPolicy.
type AccessLogPolicy struct {
	// Filter is a CEL expression; requests for which it is false are not logged.
	Filter string `json:"filter"`
	// Add maps field names to CEL expressions computed per request.
	Add map[string]string `json:"add"`
	// Remove names fields to leave out.
	Remove []string `json:"remove"`
	// Format is agentgateway's newer spelling of the access log's line format: "text" or "json"
	// ("" keeps the process log's format). Read at start.
	Format string `json:"format"`
	// Fields is the newer spelling of Add and Remove (fields.add, fields.remove); both merge.
	Fields *FieldsSettings `json:"fields"`
	// OTLP also exports the access log's records as OTLP logs (otlplog.go).
	OTLP *OTLPLogging `json:"otlp"`
}

// adds returns Add and Fields.Add together.
func (a *AccessLogPolicy) adds() map[string]string {
	if a.Fields == nil || len(a.Fields.Add) == 0 {
		return a.Add
	}
	out := make(map[string]string, len(a.Add)+len(a.Fields.Add))
	for k, v := range a.Add {
		out[k] = v
	}
	for k, v := range a.Fields.Add {
		out[k] = v
	}
	return out
}

// removes returns Remove and Fields.Remove together.
func (a *AccessLogPolicy) removes() []string {
	if a.Fields == nil {
		return a.Remove
	}
	return append(slices.Clone(a.Remove), a.Fields.Remove...)
}

// FrontendTracing is the schema's TracingConfig, with the collector given as host.
type FrontendTracing struct {
	// Host is the collector, "host:port" or a URL.
	Host string `json:"host"`
	// Protocol is "grpc" (default) or "http"; Path the OTLP/HTTP path (default /v1/traces).
	Protocol string `json:"protocol"`
	Path     string `json:"path"`
	// Attributes are span attributes computed by CEL per request.
	Attributes map[string]string `json:"attributes"`
	// Resources are resource attributes (service.name, ...) computed by CEL once.
	Resources map[string]string `json:"resources"`
	// Remove names span attributes to leave out.
	Remove []string `json:"remove"`
	// RandomSampling and ClientSampling as in config.tracing.
	RandomSampling *Sampling `json:"randomSampling"`
	ClientSampling *Sampling `json:"clientSampling"`
}

// FrontendHTTP is the schema's FrontendHTTP: the settings Go's HTTP server has.
type FrontendHTTP struct {
	HTTP1MaxHeaders           int           `json:"http1MaxHeaders"`
	MaxConnectionDuration     time.Duration `json:"maxConnectionDuration"`
	HTTP1IdleTimeout          time.Duration `json:"http1IdleTimeout"`
	HTTP2WindowSize           uint32        `json:"http2WindowSize"`
	HTTP2ConnectionWindowSize uint32        `json:"http2ConnectionWindowSize"`
	HTTP2FrameSize            uint32        `json:"http2FrameSize"`
	HTTP2MaxHeaderSize        uint32        `json:"http2MaxHeaderSize"`
	HTTP2KeepaliveInterval    time.Duration `json:"http2KeepaliveInterval"`
	HTTP2KeepaliveTimeout     time.Duration `json:"http2KeepaliveTimeout"`
	// MaxBufferSize is the default bound of the policies that buffer a body (BuildContext.MaxBufferSize).
	MaxBufferSize int64 `json:"maxBufferSize"`
}

// Keys of the schema that are recognised but not supported yet, per object.
var (
	unsupportedFrontend  []string
	unsupportedAccessLog = []string{"database"}
	unsupportedTracing   = []string{"service", "backend", "policies", "filter"}
	// http1HeaderCase (the case of HTTP/1 response header names: lowercase, or preserve): net/http writes
	// the names it adds (Date, Content-Length, Transfer-Encoding) in canonical case, and policies look
	// names up canonically, so it cannot be honoured for every header.
	unsupportedHTTP = []string{"http1HeaderCase"}
)

// dropUnsupported returns n without the keys in unsupported, and an error at each one it dropped.
func dropUnsupported(n *yaml.Node, path string, unsupported []string) (*yaml.Node, []error) {
	if n == nil || n.Kind != yaml.MappingNode {
		return n, nil
	}
	var errs []error
	kept := *n
	kept.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if slices.Contains(unsupported, key) {
			errs = append(errs, unsupportedAt(joinPath(path, key), n.Content[i]))
			continue
		}
		kept.Content = append(kept.Content, n.Content[i], n.Content[i+1])
	}
	return &kept, errs
}

func mapValue(n *yaml.Node, key string) (*yaml.Node, int) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, -1
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], i + 1
		}
	}
	return nil, -1
}

func decodeFrontendPolicies(n *yaml.Node) (FrontendPolicies, error) {
	const path = "frontendPolicies"
	var fp FrontendPolicies
	if n.Tag == "!!null" {
		return fp, nil
	}
	if n.Kind != yaml.MappingNode {
		return fp, errAt(path, n, "want an object, got %s", kindName(n))
	}
	kept, errs := dropUnsupported(n, path, unsupportedFrontend)
	// logging is the schema's other name for accessLog, proxy for proxyProtocol.
	for alias, key := range map[string]string{"logging": "accessLog", "proxy": "proxyProtocol"} {
		if _, li := mapValue(kept, alias); li >= 0 {
			if _, ai := mapValue(kept, key); ai >= 0 {
				errs = append(errs, errAt(path+"."+alias, kept.Content[li-1], "set %s or %s, not both", key, alias))
			}
			renamed := *kept.Content[li-1]
			renamed.Value = key
			kept.Content[li-1] = &renamed
		}
	}
	for key, unsupported := range map[string][]string{"accessLog": unsupportedAccessLog, "tracing": unsupportedTracing, "http": unsupportedHTTP} {
		if v, i := mapValue(kept, key); i >= 0 {
			nv, e := dropUnsupported(v, path+"."+key, unsupported)
			errs = append(errs, e...)
			kept.Content[i] = nv
		}
	}
	if err := decodeValue(kept, reflectValue(&fp), path); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, fp.validate()...)
		errs = append(errs, fp.validateL4()...)
		if s := fp.NetworkExtAuthz; s != nil {
			_, e := netExtAuthzConfig(s)
			errs = append(errs, e...)
		}
	}
	return fp, errors.Join(errs...)
}

func (fp *FrontendPolicies) validate() []error {
	var errs []error
	if a := fp.AccessLog; a != nil {
		if a.Filter != "" {
			if _, err := compileLogFilter(a.Filter); err != nil {
				errs = append(errs, agentgateway.Errorf("frontendPolicies.accessLog.filter", "%v", err))
			}
		}
		errs = append(errs, compileFields("frontendPolicies.accessLog", &FieldsSettings{Add: a.Add})...)
		if a.OTLP != nil {
			errs = append(errs, a.OTLP.validate("frontendPolicies.accessLog.otlp")...)
		}
		switch a.Format {
		case "", "text", "json":
		default:
			errs = append(errs, agentgateway.Errorf("frontendPolicies.accessLog.format", "unknown format %q (text, json)", a.Format))
		}
		if a.Fields != nil {
			for k := range a.Fields.Add {
				if _, dup := a.Add[k]; dup {
					errs = append(errs, agentgateway.Errorf("frontendPolicies.accessLog.fields.add."+k, "also set in add"))
				}
			}
			errs = append(errs, compileFields("frontendPolicies.accessLog.fields", a.Fields)...)
		}
	}
	if t := fp.Tracing; t != nil {
		if t.Host == "" {
			errs = append(errs, agentgateway.Errorf("frontendPolicies.tracing.host", "required (the OTLP collector)"))
		}
		switch t.Protocol {
		case "", "grpc", "http":
		default:
			errs = append(errs, agentgateway.Errorf("frontendPolicies.tracing.protocol", "unknown protocol %q (grpc, http)", t.Protocol))
		}
		errs = append(errs, compileFields("frontendPolicies.tracing.attributes", &FieldsSettings{Add: t.Attributes})...)
		if _, err := t.resourceAttrs(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Options returns the gateway options of frontendPolicies.http that bound requests and connections
// (http1MaxHeaders, maxConnectionDuration).
func (fp *FrontendPolicies) Options() []agentgateway.Option {
	opts := fp.l4Options()
	h := fp.HTTP
	if h == nil {
		return opts
	}
	if h.HTTP1MaxHeaders > 0 {
		opts = append(opts, agentgateway.WithMaxRequestHeaders(h.HTTP1MaxHeaders))
	}
	if h.MaxConnectionDuration > 0 {
		opts = append(opts, agentgateway.WithMaxConnectionDuration(h.MaxConnectionDuration))
	}
	return opts
}

// ServerConfig returns the function that applies frontendPolicies.http to each HTTP server of the
// gateway (agentgateway.WithServerConfig), or nil when the section is absent. It is read at start.
func (fp *FrontendPolicies) ServerConfig() func(*http.Server) {
	h := fp.HTTP
	if h == nil {
		return nil
	}
	return func(s *http.Server) {
		if h.HTTP1IdleTimeout > 0 {
			s.IdleTimeout = h.HTTP1IdleTimeout
		}
		if h.HTTP2MaxHeaderSize > 0 {
			s.MaxHeaderBytes = int(h.HTTP2MaxHeaderSize)
		}
		if h.HTTP2WindowSize|h.HTTP2ConnectionWindowSize|h.HTTP2FrameSize > 0 || h.HTTP2KeepaliveInterval|h.HTTP2KeepaliveTimeout > 0 {
			if s.HTTP2 == nil {
				s.HTTP2 = &http.HTTP2Config{}
			}
			s.HTTP2.MaxReceiveBufferPerStream = int(h.HTTP2WindowSize)
			s.HTTP2.MaxReceiveBufferPerConnection = int(h.HTTP2ConnectionWindowSize)
			s.HTTP2.MaxReadFrameSize = int(h.HTTP2FrameSize)
			s.HTTP2.SendPingTimeout = h.HTTP2KeepaliveInterval
			s.HTTP2.PingTimeout = h.HTTP2KeepaliveTimeout
		}
	}
}
