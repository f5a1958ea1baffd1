package gwapi

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const kindConfigMap = "ConfigMap"

// frontendCA is the client-certificate validation (Gateway spec.tls.frontend) that applies to one
// HTTPS listener, resolved from its CA ConfigMaps.
type frontendCA struct {
	// pems are the CA bundles of the refs that resolved, in ref order; empty when none did.
	pems []string
	// insecure is mode AllowInsecureFallback: a missing or failing client certificate is accepted.
	insecure bool
	// reason and msg describe the first ref that did not resolve (reason empty when all did).
	reason, msg string
}

// frontendValidation finds the validation that applies to an HTTPS listener (the perPort entry for
// its port, else the default) and resolves its caCertificateRefs; nil when none applies.
func (t *translator) frontendValidation(gw *gwv1.Gateway, l *gwv1.Listener) *frontendCA {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil || l.Protocol != gwv1.HTTPSProtocolType {
		return nil
	}
	f := gw.Spec.TLS.Frontend
	v := f.Default.Validation
	for _, pp := range f.PerPort {
		if pp.Port == l.Port {
			v = pp.TLS.Validation
			break
		}
	}
	if v == nil {
		return nil
	}
	out := &frontendCA{insecure: v.Mode == gwv1.AllowInsecureFallback}
	for _, ref := range v.CACertificateRefs {
		pem, reason, err := t.caBundle(gw, ref)
		if err != nil {
			if out.reason == "" {
				out.reason, out.msg = reason, err.Error()
			}
			continue
		}
		out.pems = append(out.pems, pem)
	}
	return out
}

// caBundle reads the PEM CA bundle (key ca.crt) of a ConfigMap a Gateway names; on failure it returns
// the listener ResolvedRefs reason Gateway API prescribes.
func (t *translator) caBundle(gw *gwv1.Gateway, ref gwv1.ObjectReference) (string, string, error) {
	if ref.Group != "" || ref.Kind != kindConfigMap {
		return "", string(gwv1.ListenerReasonInvalidCACertificateKind),
			fmt.Errorf("caCertificateRef %s: kind %s is not supported (want a core ConfigMap)", ref.Name, groupKind(string(ref.Group), string(ref.Kind)))
	}
	ns := gw.Namespace
	if ref.Namespace != nil && string(*ref.Namespace) != gw.Namespace {
		ns = string(*ref.Namespace)
		if !t.granted(groupGateway, kindGateway, gw.Namespace, "", kindConfigMap, ns, string(ref.Name)) {
			return "", string(gwv1.ListenerReasonRefNotPermitted), fmt.Errorf("caCertificateRef ConfigMap %s/%s: %w", ns, ref.Name, errRefNotPermitted)
		}
	}
	invalid := string(gwv1.ListenerReasonInvalidCACertificateRef)
	cm := t.configMap(ns, string(ref.Name))
	if cm == nil {
		return "", invalid, fmt.Errorf("caCertificateRef ConfigMap %s/%s not found", ns, ref.Name)
	}
	pem, ok := cm.Data[caCertKey]
	if !ok {
		b, okb := cm.BinaryData[caCertKey]
		pem, ok = string(b), okb
	}
	if !ok {
		return "", invalid, fmt.Errorf("caCertificateRef ConfigMap %s/%s has no %s", ns, ref.Name, caCertKey)
	}
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(pem)) {
		return "", invalid, fmt.Errorf("caCertificateRef ConfigMap %s/%s: %s holds no PEM certificate", ns, ref.Name, caCertKey)
	}
	return pem, "", nil
}

const caCertKey = "ca.crt"

func groupKind(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// apply makes a listener's server TLS ask for client certificates: AllowValidOnly requires one that
// chains to the CAs; AllowInsecureFallback asks for one but completes the handshake whatever the
// client sends (or does not), leaving authorization to the backend, as Gateway API defines it.
func (f *frontendCA) apply(tc *tls.Config) {
	pool := x509.NewCertPool()
	for _, p := range f.pems {
		pool.AppendCertsFromPEM([]byte(p))
	}
	tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	if f.insecure {
		tc.ClientAuth = tls.RequestClientCert
	}
}

// insecureFrontend reports whether a Gateway's frontend validation allows insecure fallback anywhere
// (the default or a port), which Gateway API surfaces as the InsecureFrontendValidationMode condition.
func insecureFrontend(gw *gwv1.Gateway) bool {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil {
		return false
	}
	f := gw.Spec.TLS.Frontend
	if v := f.Default.Validation; v != nil && v.Mode == gwv1.AllowInsecureFallback {
		return true
	}
	for _, pp := range f.PerPort {
		if v := pp.TLS.Validation; v != nil && v.Mode == gwv1.AllowInsecureFallback {
			return true
		}
	}
	return false
}

// gatewaysNeedConfigMaps reports whether a Gateway names a ConfigMap (a frontend CA), so that the
// controller lists ConfigMaps only then.
func gatewaysNeedConfigMaps(gws []gwv1.Gateway) bool {
	for i := range gws {
		if tl := gws[i].Spec.TLS; tl != nil && tl.Frontend != nil {
			return true
		}
	}
	return false
}

// schemaMTLS renders a listener's client-certificate validation into its schema tls object: root is
// the CA bundle (inline PEM), and mtlsMode (our extension) carries AllowInsecureFallback.
func (f *frontendCA) schemaMTLS(tlsObj map[string]any) {
	tlsObj["root"] = strings.Join(f.pems, "\n")
	if f.insecure {
		tlsObj["mtlsMode"] = mtlsModeFallback
	}
}

// mtlsModeFallback is config's listener tls mtlsMode for AllowInsecureFallback.
const mtlsModeFallback = "allowInsecureFallback"
