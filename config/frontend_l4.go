package config

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// FrontendTLSSpec is frontendPolicies.tls, the schema's TLS: settings of every TLS handshake the
// gateway terminates.
type FrontendTLSSpec struct {
	HandshakeTimeout  time.Duration `json:"handshakeTimeout"`
	ALPN              []ALPNProto   `json:"alpn"`
	MinVersion        string        `json:"minVersion"`
	MaxVersion        string        `json:"maxVersion"`
	CipherSuites      []string      `json:"cipherSuites"`
	KeyExchangeGroups []string      `json:"keyExchangeGroups"`
}

// ALPNProto is one ALPN protocol: the schema writes it as a list of byte values; a string is
// accepted too.
type ALPNProto string

// UnmarshalJSON accepts [104, 50] or "h2".
func (a *ALPNProto) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = ALPNProto(s)
		return nil
	}
	var bs []uint8
	var ints []int
	if err := json.Unmarshal(b, &ints); err != nil {
		return fmt.Errorf("want a protocol name or a list of byte values: %w", err)
	}
	for _, v := range ints {
		if v < 0 || v > 255 {
			return fmt.Errorf("byte value %d out of range", v)
		}
		bs = append(bs, uint8(v))
	}
	*a = ALPNProto(bs)
	return nil
}

// FrontendTCPSpec is frontendPolicies.tcp, the schema's FrontendTCP.
type FrontendTCPSpec struct {
	Keepalives KeepaliveSpec `json:"keepalives"`
}

// KeepaliveSpec is the schema's KeepaliveConfig; unset fields take the schema's defaults (enabled,
// 3m, 3m, 9).
type KeepaliveSpec struct {
	Enabled  *bool         `json:"enabled"`
	Time     time.Duration `json:"time"`
	Interval time.Duration `json:"interval"`
	Retries  *int          `json:"retries"`
}

// NetworkAuthorizationSpec is frontendPolicies.networkAuthorization: CEL rules over source.address,
// source.port, destination.address, destination.port and destination.hostname (the SNI, or the
// CONNECT host), evaluated once per connection before any HTTP.
type NetworkAuthorizationSpec struct {
	Rules []cel.Rule `json:"rules"`
}

// ProxyProtocolSpec is frontendPolicies.proxyProtocol (or proxy), the schema's Proxy.
type ProxyProtocolSpec struct {
	Version string `json:"version"`
	Mode    string `json:"mode"`
}

// ConnectSpec is frontendPolicies.connect.
type ConnectSpec struct {
	Mode string `json:"mode"`
}

// l4Frontend is the part of frontendPolicies this file handles, decoded into FrontendPolicies.
type l4Frontend struct {
	TLS                  *FrontendTLSSpec          `json:"tls"`
	TCP                  *FrontendTCPSpec          `json:"tcp"`
	NetworkAuthorization *NetworkAuthorizationSpec `json:"networkAuthorization"`
	ProxyProtocol        *ProxyProtocolSpec        `json:"proxyProtocol"`
	Connect              *ConnectSpec              `json:"connect"`
}

var tlsVersions = map[string]uint16{"TLS_V1_0": tls.VersionTLS10, "TLS_V1_1": tls.VersionTLS11, "TLS_V1_2": tls.VersionTLS12, "TLS_V1_3": tls.VersionTLS13}

var keyExchangeGroups = map[string]tls.CurveID{"X25519": tls.X25519, "P-256": tls.CurveP256, "P-384": tls.CurveP384, "X25519_MLKEM768": tls.X25519MLKEM768}

func tlsVersion(name, path string) (uint16, error) {
	if name == "" {
		return 0, nil
	}
	v, ok := tlsVersions[strings.ToUpper(name)]
	if !ok {
		return 0, agentgateway.Errorf(path, "unknown TLS version %q (TLS_V1_0 .. TLS_V1_3)", name)
	}
	return v, nil
}

// cipherSuites maps suite names to Go's IDs. TLS 1.3 suites are accepted and always enabled: Go
// does not let them be chosen.
func cipherSuites(names []string, path string) ([]uint16, error) {
	var out []uint16
	for i, n := range names {
		found := false
		for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
			for _, cs := range list {
				if cs.Name == strings.ToUpper(n) {
					found = true
					if len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13 {
						continue
					}
					out = append(out, cs.ID)
				}
			}
		}
		if !found {
			return nil, agentgateway.Errorf(fmt.Sprintf("%s[%d]", path, i), "unknown cipher suite %q", n)
		}
	}
	return out, nil
}

func curves(names []string, path string) ([]tls.CurveID, error) {
	var out []tls.CurveID
	for i, n := range names {
		c, ok := keyExchangeGroups[n]
		if !ok {
			return nil, agentgateway.Errorf(fmt.Sprintf("%s[%d]", path, i), "unknown key exchange group %q (X25519, P-256, P-384, X25519_MLKEM768)", n)
		}
		out = append(out, c)
	}
	return out, nil
}

// tlsOptions applies a listener's TLS settings beyond its certificate; false when one is invalid
// (recorded in l.errs).
func (l *loader) tlsOptions(tc *tls.Config, t TLSSpec, path string) bool {
	n := len(l.errs)
	minV, err := tlsVersion(t.MinTLSVersion+t.MinTlsVersion, path+".minTLSVersion")
	l.add(err)
	maxV, err := tlsVersion(t.MaxTLSVersion+t.MaxTlsVersion, path+".maxTLSVersion")
	l.add(err)
	if minV != 0 {
		tc.MinVersion = minV
	}
	tc.MaxVersion = maxV
	suites, err := cipherSuites(t.CipherSuites, path+".cipherSuites")
	l.add(err)
	tc.CipherSuites = suites
	cs, err := curves(t.KeyExchangeGroups, path+".keyExchangeGroups")
	l.add(err)
	tc.CurvePreferences = cs
	if t.Mode == "dynamicCa" {
		m, err := agentgateway.NewCertMinter(tc.Certificates[0])
		if err != nil {
			l.add(agentgateway.Errorf(path+".cert", "%s: %w", t.Cert, err))
		} else {
			tc.Certificates, tc.GetCertificate = nil, m.GetCertificate
		}
	}
	return len(l.errs) == n
}

func (l *loader) add(err error) {
	if err != nil {
		l.errs = append(l.errs, err)
	}
}

// validateL4 checks the L4 frontend policies and compiles what they need.
func (fp *FrontendPolicies) validateL4() []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if t := fp.TLS; t != nil {
		_, err := tlsVersion(t.MinVersion, "frontendPolicies.tls.minVersion")
		add(err)
		_, err = tlsVersion(t.MaxVersion, "frontendPolicies.tls.maxVersion")
		add(err)
		_, err = cipherSuites(t.CipherSuites, "frontendPolicies.tls.cipherSuites")
		add(err)
		_, err = curves(t.KeyExchangeGroups, "frontendPolicies.tls.keyExchangeGroups")
		add(err)
	}
	if a := fp.NetworkAuthorization; a != nil {
		rs, err := cel.CompileRulesWith(connVars, a.Rules...)
		if err != nil {
			errs = append(errs, relocateUnder("frontendPolicies.networkAuthorization", err))
		}
		fp.netRules = rs
	}
	if p := fp.ProxyProtocol; p != nil {
		switch p.Version {
		case "", "v1", "v2", "all":
		default:
			errs = append(errs, agentgateway.Errorf("frontendPolicies.proxyProtocol.version", "unknown version %q (v1, v2, all)", p.Version))
		}
		switch p.Mode {
		case "", "strict", "optional":
		default:
			errs = append(errs, agentgateway.Errorf("frontendPolicies.proxyProtocol.mode", "unknown mode %q (strict, optional)", p.Mode))
		}
	}
	if c := fp.Connect; c != nil {
		switch c.Mode {
		case "deny", "route", "tunnel":
		default:
			errs = append(errs, agentgateway.Errorf("frontendPolicies.connect.mode", "unknown mode %q (deny, route, tunnel)", c.Mode))
		}
	}
	return errs
}

// l4Options returns the gateway options of the L4 frontend policies (validated by Load).
func (fp *FrontendPolicies) l4Options() []agentgateway.Option {
	var opts []agentgateway.Option
	if t := fp.TLS; t != nil {
		ft := agentgateway.FrontendTLS{HandshakeTimeout: t.HandshakeTimeout}
		ft.MinVersion, _ = tlsVersion(t.MinVersion, "")
		ft.MaxVersion, _ = tlsVersion(t.MaxVersion, "")
		ft.CipherSuites, _ = cipherSuites(t.CipherSuites, "")
		cs, _ := curves(t.KeyExchangeGroups, "")
		for _, c := range cs {
			ft.CurvePreferences = append(ft.CurvePreferences, uint16(c))
		}
		for _, a := range t.ALPN {
			ft.ALPN = append(ft.ALPN, string(a))
		}
		opts = append(opts, agentgateway.WithFrontendTLS(ft))
	}
	if t := fp.TCP; t != nil {
		k := t.Keepalives
		cfg := net.KeepAliveConfig{Enable: true, Idle: 3 * time.Minute, Interval: 3 * time.Minute, Count: 9}
		if k.Enabled != nil {
			cfg.Enable = *k.Enabled
		}
		if k.Time > 0 {
			cfg.Idle = k.Time
		}
		if k.Interval > 0 {
			cfg.Interval = k.Interval
		}
		if k.Retries != nil {
			cfg.Count = *k.Retries
		}
		opts = append(opts, agentgateway.WithTCPKeepAlive(cfg))
	}
	if allow := fp.connAuthorizer(); allow != nil {
		opts = append(opts, agentgateway.WithNetworkAuthorization(allow))
	}
	if p := fp.ProxyProtocol; p != nil {
		pp := agentgateway.ProxyProtocol{Optional: p.Mode == "optional"}
		switch p.Version {
		case "v1":
			pp.Version = agentgateway.ProxyV1
		case "all":
			pp.Version = agentgateway.ProxyAll
		}
		opts = append(opts, agentgateway.WithProxyProtocol(pp))
	}
	if c := fp.Connect; c != nil {
		m := map[string]agentgateway.ConnectMode{"route": agentgateway.ConnectRoute, "deny": agentgateway.ConnectDeny, "tunnel": agentgateway.ConnectTunnel}[c.Mode]
		opts = append(opts, agentgateway.WithConnectMode(m))
	}
	return opts
}
