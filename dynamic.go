package agentgateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DynamicBackendConfig configures a backend whose upstream is chosen per request (agentgateway's
// `dynamic` backend).
type DynamicBackendConfig struct {
	// Name is recorded in State.Backend and the access log (default "dynamic").
	Name string
	// Target returns the upstream of r as "host:port" or "host" (port 80). Nil takes the request's
	// Host, as a forward proxy does. An error, or a result that is not a host and port, answers 502.
	Target func(r *http.Request) (string, error)
	// AllowPrivate lets requests reach loopback, private (RFC 1918, RFC 4193, 100.64/10), link-local
	// (cloud metadata services included), unspecified and multicast addresses. By default they are
	// refused: a literal address with 403, a name that resolves to one when it is dialled (502), so
	// that a client who controls the target cannot reach the gateway's own network.
	AllowPrivate bool
	// DialTimeout bounds connecting (default 10s).
	DialTimeout time.Duration
}

// ErrDynamicTarget is in State.Err when a dynamic backend's target is invalid or refused.
var ErrDynamicTarget = errors.New("dynamic backend target")

// DynamicBackend proxies each request to the upstream its Target names. It is an HTTPBackend whose
// single endpoint is replaced per request, so pooling, streaming, upgrades and the error answers are
// the HTTPBackend's; endpoints are never ejected (each request may go somewhere else).
type DynamicBackend struct {
	name         string
	target       func(*http.Request) (string, error)
	allowPrivate bool
	inner        *HTTPBackend
	tr           *http.Transport
}

type dynamicTargetKey struct{}

// NewDynamicBackend returns a dynamic backend.
func NewDynamicBackend(cfg DynamicBackendConfig) (*DynamicBackend, error) {
	name := cfg.Name
	if name == "" {
		name = "dynamic"
	}
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = defaultDialTimeout
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if !cfg.AllowPrivate {
		// Checked on the address actually dialled, after name resolution: a name cannot smuggle a
		// private address past the check.
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrDynamicTarget, address, err)
			}
			if privateAddr(ap.Addr()) {
				return fmt.Errorf("%w: %s is a private address", ErrDynamicTarget, ap.Addr())
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: defaultMaxIdlePerHost,
		IdleConnTimeout:     defaultIdleConnTimeout,
	}
	inner, err := NewHTTPBackend(HTTPBackendConfig{
		Name:       name,
		Endpoints:  []string{"http://dynamic.invalid"},
		Transport:  &dynamicTransport{tr},
		EjectAfter: -1,
	})
	if err != nil {
		return nil, err
	}
	return &DynamicBackend{name: name, target: cfg.Target, allowPrivate: cfg.AllowPrivate, inner: inner, tr: tr}, nil
}

// BackendName implements [BackendNamer].
func (b *DynamicBackend) BackendName() string { return b.name }

// ServeHTTP resolves the request's target and proxies it there.
func (b *DynamicBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := StateFrom(r.Context())
	raw := r.Host
	var err error
	if b.target != nil {
		raw, err = b.target(r)
	}
	var hp string
	if err == nil {
		hp, err = normalizeTarget(raw)
	}
	if err != nil {
		if st != nil {
			st.Err = fmt.Errorf("%w: %w", ErrDynamicTarget, err)
		}
		status := http.StatusBadGateway
		if b.target == nil {
			status = http.StatusBadRequest // the client's Host
		}
		WriteError(w, status, "dynamic backend: invalid target")
		return
	}
	if !b.allowPrivate {
		host, _, _ := net.SplitHostPort(hp)
		if a, perr := netip.ParseAddr(host); (perr == nil && privateAddr(a)) || strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
			if st != nil {
				st.Err = fmt.Errorf("%w: %s is a private address", ErrDynamicTarget, host)
			}
			WriteError(w, http.StatusForbidden, "dynamic backend: target is a private address")
			return
		}
	}
	b.inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), dynamicTargetKey{}, hp)))
}

// Provision implements [Provisioner].
func (b *DynamicBackend) Provision(s Services) error { return b.inner.Provision(s) }

// Close releases the pooled connections.
func (b *DynamicBackend) Close() error {
	b.tr.CloseIdleConnections()
	return b.inner.Close()
}

// normalizeTarget checks that s is "host:port" or "host" with a valid port and a host that is an IP
// address or a DNS name, and returns "host:port".
func normalizeTarget(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty target")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "80"
		} else {
			return "", fmt.Errorf("%q: %w", s, err)
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%q: bad port", s)
	}
	if _, err := netip.ParseAddr(host); err != nil && !validDNSName(host) {
		return "", fmt.Errorf("%q: not an IP address or host name", s)
	}
	return net.JoinHostPort(host, port), nil
}

// validDNSName accepts letters, digits, '-', '_' and dots, in labels of 1..63, 253 in all.
func validDNSName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// privateAddr reports addresses a dynamic backend refuses by default.
func privateAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a)
}

// dynamicTransport sends each request to the target its context carries.
type dynamicTransport struct{ *http.Transport }

func (t *dynamicTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	hp, ok := req.Context().Value(dynamicTargetKey{}).(string)
	if !ok {
		return nil, fmt.Errorf("%w: no target", ErrDynamicTarget)
	}
	out := *req
	u := *req.URL
	u.Host = hp
	out.URL = &u
	return t.Transport.RoundTrip(&out)
}
