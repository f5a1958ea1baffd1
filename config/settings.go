package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// Settings are the startup settings of the `config` section (the schema's RawConfig). Every key of
// RawConfig is either a field here, honoured, or in [UnsupportedSettings] and rejected with its path:
// nothing in `config:` is dropped silently.
type Settings struct {
	// AdminAddr is the admin listener address (default 127.0.0.1:15000; "off" disables it).
	AdminAddr string `json:"adminAddr"`
	// StatsAddr serves /metrics in the Prometheus format (default 127.0.0.1:15020; "off" disables it).
	StatsAddr string `json:"statsAddr"`
	// ReadinessAddr serves /healthz/ready (default 127.0.0.1:15021; "off" disables it).
	ReadinessAddr string `json:"readinessAddr"`
	// Session holds the key that seals stateful session ids.
	Session *SessionSettings `json:"session"`
	// MCP holds the MCP gateway defaults.
	MCP *MCPSettings `json:"mcp"`
	// SensitiveHeaders are request headers (besides [DefaultSensitiveHeaders]) whose values never
	// appear in access logs, trace attributes or /config_dump.
	SensitiveHeaders []string `json:"sensitiveHeaders"`
	// ConnectionTerminationDeadline bounds the drain on shutdown (0: the binary's --drain-timeout).
	ConnectionTerminationDeadline time.Duration `json:"connectionTerminationDeadline"`
	// Histograms is "classic" (explicit buckets, the default) or "native" (base-2 exponential buckets,
	// exposed as Prometheus native histograms through the protobuf format).
	Histograms string `json:"histograms"`
	// Tracing configures OTLP trace export.
	Tracing *TracingSettings `json:"tracing"`
	// Logging configures the log level and format and the access log's filter and fields.
	Logging *LoggingSettings `json:"logging"`
	// Metrics configures which metrics are collected.
	Metrics *MetricsSettings `json:"metrics"`
	// XDSAddress is the xDS control plane the routing config comes from (host:port, http://host:port
	// or https://host:port); the file then holds only startup settings (see package xds).
	XDSAddress string `json:"xdsAddress"`
	// XDSAuthToken is sent to the control plane as a bearer token; a control plane served by this
	// binary (--xds-serve) requires it.
	XDSAuthToken string `json:"xdsAuthToken"`
	// Gateway names this gateway to the control plane (required with XDSAddress).
	Gateway string `json:"gateway"`
	// Namespace is the gateway's namespace, part of its xDS node id.
	Namespace string `json:"namespace"`
	// ClusterID is the xDS node's cluster (default "Kubernetes").
	ClusterID string `json:"clusterId"`
	// ModelCatalog prices LLM calls (llm.Catalog); entries merge in order, later ones winning. Unlike
	// the other settings it is applied on every reload (sections_llm_catalog.go).
	ModelCatalog []ModelCatalogSource `json:"modelCatalog"`
}

// SessionSettings is the schema's RawSession.
type SessionSettings struct {
	// Key is the AES-256-GCM key as 64 hex digits (`openssl rand -hex 32`). Replicas configured with the
	// same key continue each other's MCP sessions.
	Key string `json:"key"`
}

// MCPSettings is the schema's RawMcpConfig.
type MCPSettings struct {
	// SessionTTL closes MCP sessions idle for this long (default 30m); mcp.Config.SessionTimeout.
	SessionTTL time.Duration `json:"sessionTtl"`
}

// TracingSettings is the schema's RawTracing.
type TracingSettings struct {
	// OTLPEndpoint is the collector: "http://collector:4317" or "collector:4317".
	OTLPEndpoint string `json:"otlpEndpoint"`
	// Headers are sent with every export (authentication, tenant).
	Headers map[string]string `json:"headers"`
	// OTLPProtocol is "grpc" (default) or "http".
	OTLPProtocol string `json:"otlpProtocol"`
	// Path is the OTLP/HTTP path (default /v1/traces).
	Path string `json:"path"`
	// Fields adds (CEL) and removes span attributes of the request span.
	Fields *FieldsSettings `json:"fields"`
	// RandomSampling is the share of requests without an incoming trace that start one: true, false
	// (the default) or a ratio between 0 and 1.
	RandomSampling *Sampling `json:"randomSampling"`
	// ClientSampling is the share of requests with a sampled incoming trace that are traced: true (the
	// default), false or a ratio between 0 and 1.
	ClientSampling *Sampling `json:"clientSampling"`
}

// FieldsSettings is the schema's RawLoggingFields: fields computed by CEL expressions, and fields to
// leave out.
type FieldsSettings struct {
	Add    map[string]string `json:"add"`
	Remove []string          `json:"remove"`
}

// LoggingSettings is the schema's RawLogging.
type LoggingSettings struct {
	// Filter is a CEL expression; requests for which it is false are not logged.
	Filter string `json:"filter"`
	// Fields adds (CEL) and removes access log fields.
	Fields *FieldsSettings `json:"fields"`
	// Level is the log level: "info", or a list/comma-separated string whose one plain entry is the level.
	Level LogLevel `json:"level"`
	// Format is "text" (default) or "json".
	Format string `json:"format"`
	// OTLP also exports the access log's records as OTLP logs (otlplog.go).
	OTLP *OTLPLogging `json:"otlp"`
}

// MetricsSettings is the schema's RawMetrics.
type MetricsSettings struct {
	// Remove names metrics (instrument names) that are not collected.
	Remove []string `json:"remove"`
	// Fields.Add are attributes computed by CEL for each request's http.server.request.duration point
	// (see [File.MetricFields]).
	Fields *struct {
		Add map[string]string `json:"add"`
	} `json:"fields"`
}

// Sampling is the schema's StringBoolFloat for a sampling rate: a bool, a number in [0, 1], or a
// string holding one of those.
type Sampling struct {
	// Ratio is the sampled share, 0 to 1 (when Expr is nil).
	Ratio float64
	// Expr, when set, is a CEL expression over the request that returns the ratio (a number) or
	// whether to sample (a bool), evaluated for each request that starts a span.
	Expr *cel.Program
}

func (s *Sampling) decodeNode(n *yaml.Node, path string) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return errAt(path, n, "want true, false or a ratio between 0 and 1, got %s", kindName(n))
	}
	v := strings.TrimSpace(n.Value)
	if b, err := strconv.ParseBool(v); err == nil {
		s.Ratio = 0
		if b {
			s.Ratio = 1
		}
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		// agentgateway evaluates any other string as CEL over the request.
		p, cerr := cel.Compile(v, nil)
		if cerr != nil {
			return errAt(path, n, "neither true, false, a ratio nor a CEL expression: %v", cerr)
		}
		s.Expr = p
		return nil
	}
	if !(f >= 0 && f <= 1) {
		return errAt(path, n, "ratio %v out of range [0, 1]", f)
	}
	s.Ratio = f
	return nil
}

// LogLevel is the schema's RawLoggingLevel: "info", "info,module=trace" or a list of such entries.
// Per-module levels are not supported (Go has no modules to scope them to): the plain entry is the level.
type LogLevel struct {
	// Level is the slog level (trace maps to debug-4); set reports whether the file gave one.
	Level slog.Level
	Set   bool
}

func (l *LogLevel) decodeNode(n *yaml.Node, path string) error {
	var entries []string
	switch {
	case n.Tag == "!!null":
		return nil
	case n.Kind == yaml.ScalarNode:
		entries = strings.Split(n.Value, ",")
	case n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return errAt(fmt.Sprintf("%s[%d]", path, i), c, "want a level, got %s", kindName(c))
			}
			entries = append(entries, c.Value)
		}
	default:
		return errAt(path, n, "want a level such as \"info\", got %s", kindName(n))
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "=") {
			return errAt(path, n, "per-module level %q is not supported; give one level (trace, debug, info, warn, error)", e)
		}
		lv, err := ParseLogLevel(e)
		if err != nil {
			return errAt(path, n, "%v", err)
		}
		if l.Set {
			return errAt(path, n, "more than one level given")
		}
		l.Level, l.Set = lv, true
	}
	return nil
}

// ParseLogLevel parses agentgateway's level names (trace, debug, info, warn, error; any case).
func ParseLogLevel(s string) (slog.Level, error) {
	if strings.EqualFold(s, "trace") {
		return slog.LevelDebug - 4, nil
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown level %q (trace, debug, info, warn, error)", s)
	}
	return lv, nil
}

// DefaultSensitiveHeaders are always redacted from access logs, traces and /config_dump.
var DefaultSensitiveHeaders = []string{"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}

// Default addresses of the binary's listeners.
const (
	DefaultAdminAddr     = "127.0.0.1:15000"
	DefaultStatsAddr     = "127.0.0.1:15020"
	DefaultReadinessAddr = "127.0.0.1:15021"
)

// UnsupportedSettings are the RawConfig keys that belong to work not built yet (xDS, mesh, storage,
// DNS and upstream tuning, ...); a config that sets one is rejected at config.<key>, so that a setting
// is never silently dropped.
var UnsupportedSettings = []string{
	"enableIpv6", "dns", "localXdsPath", "database", "storage", "caAddress", "caAuthToken",
	"spiffe", "trustDomain", "additionalTrustDomains", "skipValidateTrustDomain", "serviceAccount", "network", "standardAttributes",
	"customFunctions", "connectionMinTerminationDeadline", "workerThreads", "backend", "hbone",
}

// ErrUnsupported is wrapped by the errors of settings and policies that are recognised but not
// supported yet.
var ErrUnsupported = errors.New("not supported yet")

// decodeSettings reads the `config` section strictly: unsupported keys are rejected with their path,
// unknown keys and wrong types are errors with path and line, and values are validated.
func decodeSettings(n *yaml.Node) (Settings, error) {
	var s Settings
	if n.Tag == "!!null" {
		return s, nil
	}
	if n.Kind != yaml.MappingNode {
		return s, errAt("config", n, "want an object, got %s", kindName(n))
	}
	var errs []error
	kept := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if slices.Contains(UnsupportedSettings, key) {
			errs = append(errs, unsupportedAt("config."+key, n.Content[i]))
			continue
		}
		kept.Content = append(kept.Content, n.Content[i], n.Content[i+1])
	}
	if err := decodeValue(kept, reflectValue(&s), "config"); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, s.validate()...)
	}
	return s, errors.Join(errs...)
}

func unsupportedAt(path string, n *yaml.Node) error {
	e := errAt(path, n, "%s", refusal(path)).(*agentgateway.ConfigError) // the compatibility table's words
	e.Err = fmt.Errorf("%w: %w", e.Err, ErrUnsupported)
	return e
}

func (s *Settings) validate() []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, agentgateway.Errorf(path, format, args...))
	}
	if s.Session != nil {
		if _, err := s.SessionKey(); err != nil {
			bad("config.session.key", "%v", err)
		}
	}
	if s.MCP != nil && s.MCP.SessionTTL < 0 {
		bad("config.mcp.sessionTtl", "must not be negative")
	}
	if s.ConnectionTerminationDeadline < 0 {
		bad("config.connectionTerminationDeadline", "must not be negative")
	}
	if s.XDSAddress != "" && s.Gateway == "" {
		bad("config.gateway", "is required when config.xdsAddress is set (it names this gateway to the control plane)")
	}
	switch s.Histograms {
	case "", "classic", "native":
	case "both":
		bad("config.histograms", "\"both\" is not supported yet (classic or native)")
	default:
		bad("config.histograms", "unknown mode %q (classic, native)", s.Histograms)
	}
	for i, h := range s.SensitiveHeaders {
		if h == "" || strings.ContainsAny(h, " :\t") {
			bad(fmt.Sprintf("config.sensitiveHeaders[%d]", i), "invalid header name %q", h)
		}
	}
	if t := s.Tracing; t != nil {
		switch t.OTLPProtocol {
		case "", "grpc", "http":
		default:
			bad("config.tracing.otlpProtocol", "unknown protocol %q (grpc, http)", t.OTLPProtocol)
		}
		if t.OTLPEndpoint == "" {
			bad("config.tracing.otlpEndpoint", "required to export traces")
		}
		if t.Fields != nil {
			errs = append(errs, compileFields("config.tracing.fields", t.Fields)...)
		}
	}
	if l := s.Logging; l != nil {
		switch l.Format {
		case "", "text", "json":
		default:
			bad("config.logging.format", "unknown format %q (text, json)", l.Format)
		}
		if l.Filter != "" {
			if _, err := compileLogFilter(l.Filter); err != nil {
				bad("config.logging.filter", "%v", err)
			}
		}
		if l.Fields != nil {
			errs = append(errs, compileFields("config.logging.fields", l.Fields)...)
		}
		if l.OTLP != nil {
			errs = append(errs, l.OTLP.validate("config.logging.otlp")...)
		}
	}
	if m := s.Metrics; m != nil && m.Fields != nil {
		errs = append(errs, compileFields("config.metrics.fields", &FieldsSettings{Add: m.Fields.Add})...)
	}
	return errs
}

// SessionKey returns config.session.key decoded (nil when unset): 32 bytes given as 64 hex digits.
func (s *Settings) SessionKey() ([]byte, error) {
	if s.Session == nil {
		return nil, nil
	}
	key, err := hex.DecodeString(strings.TrimSpace(s.Session.Key))
	if err != nil {
		return nil, fmt.Errorf("want 64 hex digits (openssl rand -hex 32): %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("want a 32-byte AES-256-GCM key as 64 hex digits, got %d bytes", len(key))
	}
	return key, nil
}

// SensitiveHeaderSet returns the lower-cased names of the headers to redact: the defaults and
// config.sensitiveHeaders.
func (s *Settings) SensitiveHeaderSet() map[string]bool {
	out := map[string]bool{}
	for _, h := range slices.Concat(DefaultSensitiveHeaders, s.SensitiveHeaders) {
		out[strings.ToLower(h)] = true
	}
	return out
}

// Addr returns addr, or def when addr is empty.
func addrOr(addr, def string) string {
	if addr == "" {
		return def
	}
	return addr
}

// AdminListen, StatsListen and ReadinessListen return the configured or default addresses ("off"
// when disabled).
func (s *Settings) AdminListen() string { return addrOr(s.AdminAddr, DefaultAdminAddr) }

// StatsListen returns the /metrics address (see AdminListen).
func (s *Settings) StatsListen() string { return addrOr(s.StatsAddr, DefaultStatsAddr) }

// ReadinessListen returns the /healthz/ready address (see AdminListen).
func (s *Settings) ReadinessListen() string { return addrOr(s.ReadinessAddr, DefaultReadinessAddr) }

// redactHeaders replaces the values of sensitive header names (any case) and of config.tracing.headers.
func redactHeaders(x any, path string, sensitive map[string]bool) any {
	switch x := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			p := joinPath(path, k)
			_, isStr := v.(string)
			switch {
			case isStr && (sensitive[strings.ToLower(k)] || path == "config.tracing.headers"):
				out[k] = "[redacted]"
			default:
				out[k] = redactHeaders(v, p, sensitive)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = redactHeaders(v, path, sensitive)
		}
		return out
	}
	return x
}
