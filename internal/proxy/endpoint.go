// Package proxy is the reverse-proxy core behind agentgateway's HTTP backend: endpoint parsing, endpoint
// selection with passive health checking, and a streaming, allocation-lean forwarder built directly on
// an http.RoundTripper.
//
// It is internal: users configure it through agentgateway.HTTPBackendConfig.
package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is one upstream address.
type Endpoint struct {
	// Scheme is "http" or "https".
	Scheme string
	// Host is the authority to dial: "host", "host:port" or "[v6]:port".
	Host string
	// BasePath is prepended to every request path (decoded form); "" or a path that starts with "/" and
	// does not end with one.
	BasePath string
}

// String returns the endpoint as a URL, e.g. "http://10.0.0.1:8080/api".
func (e Endpoint) String() string { return e.Scheme + "://" + e.Host + escapePath(e.BasePath) }

func escapePath(p string) string { return (&url.URL{Path: p}).EscapedPath() }

// ParseEndpoint parses "host:port", "host", or "http(s)://host[:port][/base/path]". A bare address
// means http. Query strings, fragments and user info are rejected, as are ports outside 1..65535.
func ParseEndpoint(s string) (Endpoint, error) {
	if s == "" {
		return Endpoint{}, errors.New("empty endpoint")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Endpoint{}, fmt.Errorf("endpoint %q: contains white space", s)
	}
	raw := s
	if !strings.Contains(s, "://") {
		raw = "http://" + s
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %q: %w", s, unwrapURLError(err))
	}
	var e Endpoint
	switch strings.ToLower(u.Scheme) {
	case "http":
		e.Scheme = "http"
	case "https":
		e.Scheme = "https"
	default:
		return Endpoint{}, fmt.Errorf("endpoint %q: scheme %q is not http or https", s, u.Scheme)
	}
	switch {
	case u.Opaque != "":
		return Endpoint{}, fmt.Errorf("endpoint %q: not a host address", s)
	case u.User != nil:
		return Endpoint{}, fmt.Errorf("endpoint %q: user info is not allowed", s)
	case u.RawQuery != "" || u.ForceQuery:
		return Endpoint{}, fmt.Errorf("endpoint %q: query is not allowed", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return Endpoint{}, fmt.Errorf("endpoint %q: fragment is not allowed", s)
	}
	host := u.Hostname()
	if host == "" {
		return Endpoint{}, fmt.Errorf("endpoint %q: missing host", s)
	}
	if strings.ContainsAny(host, "%/\\@") {
		return Endpoint{}, fmt.Errorf("endpoint %q: invalid host %q", s, host)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return Endpoint{}, fmt.Errorf("endpoint %q: invalid port %q", s, p)
		}
		e.Host = net.JoinHostPort(strings.ToLower(host), p)
	} else {
		if strings.HasSuffix(u.Host, ":") {
			return Endpoint{}, fmt.Errorf("endpoint %q: empty port", s)
		}
		e.Host = strings.ToLower(host)
		if strings.Contains(host, ":") {
			e.Host = "[" + e.Host + "]"
		}
	}
	path := strings.TrimRight(u.Path, "/")
	if path != "" && path[0] != '/' {
		return Endpoint{}, fmt.Errorf("endpoint %q: invalid path", s)
	}
	e.BasePath = path
	return e, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
