package gwapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	agentgateway "github.com/agentgw/agentgateway"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
	"github.com/agentgw/agentgateway/policy"
)

// ErrFileReference marks a schema body that names a file: a Kubernetes object must not make the
// controller read its own filesystem (its service account token, say) and send it somewhere.
var ErrFileReference = errors.New("a file reference ({file: ...}) is not allowed in a Kubernetes object; put the value inline or in a Secret")

// refuseFiles reports a {file: ...} object anywhere in a schema body.
func refuseFiles(raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil // not JSON: package config reports it
	}
	var walk func(v any, path string) error
	walk = func(v any, path string) error {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["file"]; ok {
				return fmt.Errorf("%s%w", path, ErrFileReference)
			}
			for k, e := range x {
				if err := walk(e, path+k+": "); err != nil {
					return err
				}
			}
		case []any:
			for i, e := range x {
				if err := walk(e, fmt.Sprintf("%s[%d]: ", strings.TrimSuffix(path, ": "), i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(v, "")
}

// renamePaths relocates the config errors in err whose path starts with a key of renames (a schema
// path such as "backend.backendAuth") to the CRD's path ("backend.auth").
func renamePaths(err error, renames map[string]string) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if _, isCE := err.(*agentgateway.ConfigError); !isCE {
			var list []error
			for _, e := range j.Unwrap() {
				list = append(list, renamePaths(e, renames))
			}
			return errors.Join(list...)
		}
	}
	var ce *agentgateway.ConfigError
	if !errors.As(err, &ce) || ce != err {
		return err
	}
	for from, to := range renames {
		if ce.Path == from || strings.HasPrefix(ce.Path, from+".") || strings.HasPrefix(ce.Path, from+"[") {
			return &agentgateway.ConfigError{Path: to + strings.TrimPrefix(ce.Path, from), Err: ce.Err}
		}
	}
	return err
}

// needsConfigMaps reports whether a policy names a ConfigMap (a backend.tls CA), so that the
// controller lists ConfigMaps only then.
func needsConfigMaps(ps []agwv1a1.AgentgatewayPolicy) bool {
	for i := range ps {
		if b := ps[i].Spec.Backend; b != nil && b.TLS != nil && len(b.TLS.CACertificateRefs) > 0 {
			return true
		}
	}
	return false
}

// backendSet is what one AgentgatewayPolicy's spec.backend compiled to.
type backendSet struct {
	// auth is backend.auth compiled by package config; aiKey and aiPassthrough are its plain forms,
	// which an AI backend sends in the provider's own header instead.
	auth          agentgateway.Policy
	aiKey         *string
	aiPassthrough bool
	// mcp and ai are backend.mcp's and backend.ai's policies.
	mcp []agentgateway.Policy
	ai  []agentgateway.Policy
	// tls is backend.tls; routeTLS its form as a route policy, for a Gateway or route target
	// (backend_tls_route.go), built on first use.
	tls      *tls.Config
	routeTLS agentgateway.Policy
	// tlsFrom names the AgentgatewayPolicy (namespace/name) whose backend.tls this is.
	tlsFrom string
}

// routePolicies are the policies that act on a request whatever backend it reaches (tls excepted).
func (b *backendSet) routePolicies() []agentgateway.Policy {
	var out []agentgateway.Policy
	if b.auth != nil {
		out = append(out, b.auth)
	}
	return append(append(out, b.mcp...), b.ai...)
}

// backendPolicies compiles spec.backend (nil when unset).
func (t *translator) backendPolicies(p *agwv1a1.AgentgatewayPolicy) (*backendSet, error) {
	bp := p.Spec.Backend
	if bp == nil {
		return nil, nil
	}
	key := nn(p.Namespace, p.Name).String()
	out := &backendSet{}
	if bp.Auth != nil && len(bp.Auth.Raw) > 0 {
		body, err := t.authBody(p.Namespace, bp.Auth.Raw)
		if err != nil {
			return nil, fmt.Errorf("backend.auth: %w", err)
		}
		ps, err := t.compileSchema(key+"#backend.auth", "backend", []schemaField{{"backend.auth", "backendAuth", &apiextensionsv1.JSON{Raw: body}}})
		if err != nil {
			return nil, err
		}
		if len(ps) == 1 {
			out.auth = ps[0]
		}
		var plain struct {
			Key         json.RawMessage `json:"key"`
			Passthrough json.RawMessage `json:"passthrough"`
		}
		_ = json.Unmarshal(body, &plain)
		var k string
		switch {
		case len(plain.Key) > 0 && json.Unmarshal(plain.Key, &k) == nil:
			out.aiKey = &k
		case len(plain.Passthrough) > 0 && strings.TrimSpace(string(plain.Passthrough)) == "{}":
			out.aiPassthrough = true
		}
	}
	if m := bp.MCP; m != nil {
		ps, err := t.compileSchema(key+"#backend.mcp", "backend", []schemaField{
			{"backend.mcp.authentication", "mcpAuthentication", m.Authentication},
			{"backend.mcp.authorization", "mcpAuthorization", m.Authorization}})
		if err != nil {
			return nil, err
		}
		out.mcp = ps
	}
	if bp.AI != nil {
		ps, err := t.compileSchema(key+"#backend.ai", "backend", []schemaField{{"backend.ai", "ai", bp.AI}})
		if err != nil {
			return nil, err
		}
		out.ai = ps
	}
	if bp.TLS != nil {
		c, err := t.backendTLS(p.Namespace, bp.TLS)
		if err != nil {
			return nil, fmt.Errorf("backend.tls: %w", err)
		}
		out.tls, out.tlsFrom = c, key
	}
	return out, nil
}

// authBody resolves the Kubernetes forms of backend.auth: secretRef (the key is the Secret's
// Authorization entry) and aws.secretRef (accessKey, secretKey, sessionToken), into the schema's.
func (t *translator) authBody(ns string, raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return raw, nil // package config reports the shape
	}
	changed := false
	if ref, ok := m["secretRef"]; ok {
		if _, both := m["key"]; both {
			return nil, fmt.Errorf("set key or secretRef, not both")
		}
		sec, err := t.secretRef(ns, ref)
		if err != nil {
			return nil, fmt.Errorf("secretRef: %w", err)
		}
		v, ok := secretValue(sec, "Authorization")
		if !ok {
			return nil, fmt.Errorf("secretRef: secret %s/%s has no Authorization entry", ns, sec.Name)
		}
		k, _ := json.Marshal(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "Bearer ")))
		delete(m, "secretRef")
		m["key"], changed = k, true
	}
	if a, ok := m["aws"]; ok {
		var aws map[string]json.RawMessage
		if json.Unmarshal(a, &aws) == nil {
			if ref, ok := aws["secretRef"]; ok {
				sec, err := t.secretRef(ns, ref)
				if err != nil {
					return nil, fmt.Errorf("aws.secretRef: %w", err)
				}
				delete(aws, "secretRef")
				for from, to := range map[string]string{"accessKey": "accessKeyId", "secretKey": "secretAccessKey", "sessionToken": "sessionToken"} {
					if v, ok := secretValue(sec, from); ok {
						aws[to], _ = json.Marshal(strings.TrimSpace(v))
					} else if from != "sessionToken" {
						return nil, fmt.Errorf("aws.secretRef: secret %s/%s has no %s entry", ns, sec.Name, from)
					}
				}
				m["aws"], _ = json.Marshal(aws)
				changed = true
			}
		}
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(m)
}

// secretRef finds the Secret a {name: ...} reference names in ns.
func (t *translator) secretRef(ns string, ref json.RawMessage) (*corev1.Secret, error) {
	var r corev1.LocalObjectReference
	if err := json.Unmarshal(ref, &r); err != nil || r.Name == "" {
		return nil, fmt.Errorf("want {name: <secret>}")
	}
	sec := t.secrets[nn(ns, r.Name)]
	if sec == nil {
		return nil, fmt.Errorf("secret %s/%s not found", ns, r.Name)
	}
	return sec, nil
}

func secretValue(sec *corev1.Secret, key string) (string, bool) {
	if v, ok := sec.Data[key]; ok {
		return string(v), true
	}
	v, ok := sec.StringData[key]
	return v, ok
}

// backendTLS builds backend.tls with policy.NewBackendTLS (the implementation the schema's
// backendTLS compiles to; its key material comes from files there, from a ConfigMap and a Secret
// here).
func (t *translator) backendTLS(ns string, s *agwv1a1.BackendTLS) (*tls.Config, error) {
	cfg, err := t.backendTLSConfig(ns, s)
	if err != nil {
		return nil, err
	}
	return buildBackendTLS(cfg)
}

// backendTLSConfig resolves backend.tls's references (the Secret and the ConfigMap) into the
// policy's configuration, which the runtime translation builds and the schema document renders.
func (t *translator) backendTLSConfig(ns string, s *agwv1a1.BackendTLS) (policy.BackendTLSConfig, error) {
	cfg := policy.BackendTLSConfig{SubjectAltNames: s.VerifySubjectAltNames, ALPN: s.AlpnProtocols, Logger: t.opts.Logger}
	if s.SNI != nil {
		cfg.Hostname = *s.SNI
	}
	if m := s.InsecureSkipVerify; m != nil {
		switch *m {
		case agwv1a1.InsecureTLSAll:
			if len(s.CACertificateRefs) > 0 || len(s.VerifySubjectAltNames) > 0 {
				return cfg, fmt.Errorf("insecureSkipVerify All goes with neither caCertificateRefs nor verifySubjectAltNames")
			}
			cfg.Insecure = true
		case agwv1a1.InsecureTLSHostname:
			if len(s.VerifySubjectAltNames) > 0 {
				return cfg, fmt.Errorf("insecureSkipVerify and verifySubjectAltNames may not be set together")
			}
			cfg.InsecureHost = true
		default:
			return cfg, fmt.Errorf("insecureSkipVerify: want All or Hostname, got %q", *m)
		}
	}
	if len(s.MTLSCertificateRef) > 1 || len(s.CACertificateRefs) > 1 {
		return cfg, fmt.Errorf("mtlsCertificateRef and caCertificateRefs name at most one object")
	}
	if len(s.MTLSCertificateRef) == 1 {
		name := s.MTLSCertificateRef[0].Name
		sec := t.secrets[nn(ns, name)]
		if sec == nil {
			return cfg, fmt.Errorf("mtlsCertificateRef: secret %s/%s not found", ns, name)
		}
		crt, okc := secretValue(sec, corev1.TLSCertKey)
		key, okk := secretValue(sec, corev1.TLSPrivateKeyKey)
		if !okc || !okk {
			return cfg, fmt.Errorf("mtlsCertificateRef: secret %s/%s needs %s and %s", ns, name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
		}
		cfg.Cert, cfg.Key = []byte(crt), []byte(key)
		if ca, ok := secretValue(sec, "ca.crt"); ok {
			cfg.Root = []byte(ca)
		}
	}
	if len(s.CACertificateRefs) == 1 {
		name := s.CACertificateRefs[0].Name
		cm := t.configMap(ns, name)
		if cm == nil {
			return cfg, fmt.Errorf("caCertificateRefs: configmap %s/%s not found", ns, name)
		}
		ca, ok := cm.Data["ca.crt"]
		if !ok {
			if b, okb := cm.BinaryData["ca.crt"]; okb {
				ca, ok = string(b), true
			}
		}
		if !ok {
			return cfg, fmt.Errorf("caCertificateRefs: configmap %s/%s has no ca.crt", ns, name)
		}
		cfg.Root = []byte(ca)
	}
	return cfg, nil
}

func (t *translator) configMap(ns, name string) *corev1.ConfigMap {
	for i := range t.snap.ConfigMaps {
		if cm := &t.snap.ConfigMaps[i]; cm.Namespace == ns && cm.Name == name {
			return cm
		}
	}
	return nil
}

// backendTarget keys the backend policies attached to an AgentgatewayBackend or a Service (section:
// a Service port's name or number).
type backendTarget struct {
	kind, ns, name, section string
}

// attachBackendTarget checks that a policy fits an AgentgatewayBackend or Service target and
// records its backend policies there; the error says why it does not fit.
func (t *translator) attachBackendTarget(p *agwv1a1.AgentgatewayPolicy, k backendTarget, bs *backendSet) (string, error) {
	if p.Spec.Traffic != nil {
		return "Invalid", fmt.Errorf("traffic applies to a Gateway, HTTPRoute or GRPCRoute, not to a %s: use backend", k.kind)
	}
	if bs == nil {
		return "Invalid", fmt.Errorf("a policy on a %s needs backend", k.kind)
	}
	switch k.kind {
	case kindService:
		svc := t.services[nn(k.ns, k.name)]
		if svc == nil {
			return "TargetNotFound", fmt.Errorf("Service %s/%s not found", k.ns, k.name)
		}
		if k.section != "" && !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
			return p.Name == k.section || strconv.Itoa(int(p.Port)) == k.section
		}) {
			return "TargetNotFound", fmt.Errorf("Service %s/%s has no port named or numbered %q", k.ns, k.name, k.section)
		}
		if len(bs.mcp) > 0 || len(bs.ai) > 0 {
			return "Invalid", fmt.Errorf("backend.mcp and backend.ai apply to AgentgatewayBackends (mcp, ai), not to a Service")
		}
	case agwv1a1.KindBackend:
		var b *agwv1a1.AgentgatewayBackend
		for i := range t.snap.Backends {
			if t.snap.Backends[i].Namespace == k.ns && t.snap.Backends[i].Name == k.name {
				b = &t.snap.Backends[i]
			}
		}
		if b == nil {
			return "TargetNotFound", fmt.Errorf("%s %s/%s not found", agwv1a1.KindBackend, k.ns, k.name)
		}
		if k.section != "" {
			return "Invalid", fmt.Errorf("sectionName on an %s is not supported: target the whole backend", agwv1a1.KindBackend)
		}
		if len(bs.mcp) > 0 && b.Spec.MCP == nil {
			return "Invalid", fmt.Errorf("backend.mcp applies to an mcp backend; %s/%s is not one", k.ns, k.name)
		}
		if len(bs.ai) > 0 && b.Spec.AI == nil {
			return "Invalid", fmt.Errorf("backend.ai applies to an ai backend; %s/%s is not one", k.ns, k.name)
		}
	}
	if t.backendPols == nil {
		t.backendPols = map[backendTarget][]*backendSet{}
	}
	t.backendPols[k] = append(t.backendPols[k], bs)
	return "", nil
}

// backendSetFor merges the backend policies attached to a backend (and to section, when set): the
// oldest policy's auth and tls win; every mcp and ai policy applies.
func (t *translator) backendSetFor(kind, ns, name string, sections ...string) *backendSet {
	sets := t.backendPols[backendTarget{kind, ns, name, ""}]
	for _, s := range sections {
		if s != "" {
			sets = append(sets, t.backendPols[backendTarget{kind, ns, name, s}]...)
		}
	}
	if len(sets) == 0 {
		return nil
	}
	out := &backendSet{}
	for _, s := range sets {
		if out.auth == nil && s.auth != nil {
			out.auth, out.aiKey, out.aiPassthrough = s.auth, s.aiKey, s.aiPassthrough
		}
		if out.tls == nil {
			out.tls, out.tlsFrom = s.tls, s.tlsFrom
		}
		out.mcp = append(out.mcp, s.mcp...)
		out.ai = append(out.ai, s.ai...)
	}
	return out
}

// policyHandler is a backend wrapped in the backend policies attached to it. The gateway sees only
// this handler, so provisioning, validation and closing are handed on to the backend inside (and
// provisioning to the policies).
type policyHandler struct {
	http.Handler
	inner    http.Handler
	policies []agentgateway.Policy
	closers  []io.Closer
}

// withPolicies wraps h in ps, in phase order; closers close with the backend.
func withPolicies(h http.Handler, ps []agentgateway.Policy, closers ...io.Closer) http.Handler {
	if len(ps) == 0 && len(closers) == 0 {
		return h
	}
	return &policyHandler{Handler: wrap(ps, h), inner: h, policies: ps, closers: closers}
}

// closeIdle closes a transport's pooled connections.
type closeIdle struct{ *http.Transport }

func (c closeIdle) Close() error {
	c.CloseIdleConnections()
	return nil
}

// Provision implements agentgateway.Provisioner.
func (p *policyHandler) Provision(svc agentgateway.Services) error {
	var errs []error
	if pr, ok := p.inner.(agentgateway.Provisioner); ok {
		errs = append(errs, pr.Provision(svc))
	}
	for _, pol := range p.policies {
		if pr, ok := pol.(agentgateway.Provisioner); ok {
			errs = append(errs, pr.Provision(svc))
		}
	}
	return errors.Join(errs...)
}

// Validate implements agentgateway.Validator for the backend inside.
func (p *policyHandler) Validate() error {
	if v, ok := p.inner.(agentgateway.Validator); ok {
		return v.Validate()
	}
	return nil
}

// Close closes the backend inside; the policies belong to their compiled build, shared with the
// next translation.
func (p *policyHandler) Close() error {
	var errs []error
	if c, ok := p.inner.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	for _, c := range p.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Unwrap returns the backend inside the policies.
func (p *policyHandler) Unwrap() http.Handler { return p.inner }

// dialer is the translation's custom dialer (nil: the host network).
func (t *transports) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if t == nil {
		return nil
	}
	return t.dial
}

// tlsTransport is a transport for the clients a backend makes itself (an MCP federation, an LLM
// provider) with backend.tls, through the custom dialer when one is set.
func (t *transports) tlsTransport(c *tls.Config) *http.Transport {
	return &http.Transport{TLSClientConfig: c, DialContext: t.dialer(), ForceAttemptHTTP2: len(c.NextProtos) == 0,
		MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
}

// serviceBackendSet applies the backend policies attached to a Service (and to the port, by name or
// number) to the backend config of its endpoints: tls makes them https, verified by default against
// the Service's cluster DNS name; it returns the policies that wrap the backend.
func (t *translator) serviceBackendSet(cfg *agentgateway.HTTPBackendConfig, ns, name string, sp *corev1.ServicePort) []agentgateway.Policy {
	bs := t.backendSetFor(kindService, ns, name, sp.Name, strconv.Itoa(int(sp.Port)))
	if bs == nil {
		return nil
	}
	if bs.tls != nil {
		eps := make([]string, len(cfg.Endpoints))
		for i, ep := range cfg.Endpoints {
			eps[i] = "https://" + ep
		}
		cfg.Endpoints = eps
		c := bs.tls.Clone()
		if c.ServerName == "" {
			c.ServerName = name + "." + ns + ".svc.cluster.local"
		}
		cfg.Transport, cfg.TLS, cfg.Dial = nil, c, t.transports.dialer()
	}
	var ps []agentgateway.Policy
	if bs.auth != nil {
		ps = append(ps, bs.auth)
	}
	if bs.tls != nil {
		ps = append(ps, ownTLS)
	}
	return ps
}
