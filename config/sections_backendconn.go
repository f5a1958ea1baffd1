package config

import (
	"cmp"
	"net"
	"net/http"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// backendHTTPSpec is the schema's HTTP backend policy: the HTTP version spoken to the backend and a
// bound on each request to it.
type backendHTTPSpec struct {
	// Version is "HTTP/1.1" or "HTTP/2" (agentgateway's http::Version spellings, "HTTP/2.0" too).
	Version        string        `json:"version"`
	RequestTimeout time.Duration `json:"requestTimeout"`
}

// backendTCPSpec is the schema's TCP backend policy.
type backendTCPSpec struct {
	Keepalives     *keepaliveSpec `json:"keepalives"`
	ConnectTimeout time.Duration  `json:"connectTimeout"`
}

// keepaliveSpec is the schema's KeepaliveConfig; unset fields take agentgateway's defaults.
type keepaliveSpec struct {
	Enabled  *bool         `json:"enabled"`
	Time     time.Duration `json:"time"`
	Interval time.Duration `json:"interval"`
	Retries  *int          `json:"retries"`
}

// agentgateway's keepalive defaults (KeepaliveConfig).
const (
	defaultKeepaliveTime    = 3 * time.Minute
	defaultKeepaliveRetries = 9
)

// connPolicy is the `http` and `tcp` backend policies of a host or service backend. Like health they
// shape the backend itself (its transport), so they are taken out of its policies and handed to its
// builder.
type connPolicy struct {
	http *backendHTTPSpec
	tcp  *backendTCPSpec
	h2   *bool  // from http.version; nil keeps the backend's own choice (a service's appProtocol)
	path string // of the backend spec that must consume it
	at   string // of the first of the two policies, for errors
	used bool
}

// takeConn removes `http` and `tcp` from a backend's policies and decodes them for the backend at
// specPath.
func takeConn(policies Node, specPath string) (Node, *connPolicy, error) {
	if policies.IsZero() || policies.n.Kind != yaml.MappingNode {
		return policies, nil, nil
	}
	var cp *connPolicy
	rest := *policies.n
	rest.Content = nil
	for i := 0; i+1 < len(policies.n.Content); i += 2 {
		k, v := policies.n.Content[i], policies.n.Content[i+1]
		if k.Value != "http" && k.Value != "tcp" {
			rest.Content = append(rest.Content, k, v)
			continue
		}
		if v.Tag == "!!null" {
			continue
		}
		fp := joinPath(policies.path, k.Value)
		if cp == nil {
			cp = &connPolicy{path: specPath, at: fp}
		}
		if err := cp.decode(k.Value, Node{n: v, path: fp}); err != nil {
			return policies, nil, err
		}
	}
	if len(rest.Content) == 0 {
		return Node{}, cp, nil
	}
	return Node{n: &rest, path: policies.path}, cp, nil
}

func (cp *connPolicy) decode(key string, n Node) error {
	if key == "http" {
		s, err := Decode[backendHTTPSpec](n)
		if err != nil {
			return err
		}
		switch strings.ToUpper(s.Version) {
		case "":
		case "HTTP/1.1", "1.1":
			cp.h2 = new(bool)
		case "HTTP/2", "HTTP/2.0", "2":
			h2 := true
			cp.h2 = &h2
		default:
			return agentgateway.Errorf(n.path+".version", "want HTTP/1.1 or HTTP/2, got %q", s.Version)
		}
		if s.RequestTimeout < 0 {
			return agentgateway.Errorf(n.path+".requestTimeout", "must not be negative")
		}
		cp.http = &s
		return nil
	}
	s, err := Decode[backendTCPSpec](n)
	if err != nil {
		return err
	}
	if s.ConnectTimeout < 0 {
		return agentgateway.Errorf(n.path+".connectTimeout", "must not be negative")
	}
	if ka := s.Keepalives; ka != nil && (ka.Time < 0 || ka.Interval < 0 || ka.Retries != nil && *ka.Retries < 0) {
		return agentgateway.Errorf(n.path+".keepalives", "time, interval and retries must not be negative")
	}
	cp.tcp = &s
	return nil
}

// applyConn sets cfg's HTTP version, connect timeout and keepalives from the `http` and `tcp` policies
// meant for the backend bc builds, if any. (http.requestTimeout wraps the built backend: see wrapConn.)
func applyConn(bc *BuildContext, cfg *agentgateway.HTTPBackendConfig) {
	cp := bc.conn
	if cp == nil || cp.path != bc.Path {
		return
	}
	cp.used = true
	if cp.h2 != nil {
		cfg.HTTP2 = *cp.h2
	}
	if cp.tcp == nil {
		return
	}
	cfg.DialTimeout = cp.tcp.ConnectTimeout
	if ka := cp.tcp.Keepalives; ka != nil {
		c := net.KeepAliveConfig{Enable: ka.Enabled == nil || *ka.Enabled, Idle: cmp.Or(ka.Time, defaultKeepaliveTime),
			Interval: cmp.Or(ka.Interval, defaultKeepaliveTime), Count: defaultKeepaliveRetries}
		if ka.Retries != nil {
			c.Count = *ka.Retries
		}
		if !c.Enable {
			c = net.KeepAliveConfig{Idle: -1, Interval: -1, Count: -1}
		}
		cfg.KeepAlive = &c
	}
}

// wrapConn bounds each request to h by the backend's http.requestTimeout: a deadline on the request
// (each retry attempt gets its own, as this runs per attempt), answered 504 when it passes before
// the response starts.
func wrapConn(cp *connPolicy, h http.Handler) (http.Handler, error) {
	if cp == nil || cp.http == nil || cp.http.RequestTimeout == 0 {
		return h, nil
	}
	p, err := policy.NewTimeout(policy.TimeoutConfig{BackendRequestTimeout: cp.http.RequestTimeout})
	if err != nil {
		return nil, agentgateway.Errorf(cp.at, "%w", err)
	}
	return p.Wrap(h), nil
}
