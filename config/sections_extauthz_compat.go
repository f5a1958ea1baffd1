package config

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
)

// UnmarshalJSON reads the protocol as an object ({grpc: {...}} or {http: {...}}) or, as older configs
// write it, as a bare name: "grpc" or "http" with default settings.
func (p *extAuthzProtocolSpec) UnmarshalJSON(b []byte) error {
	var name string
	if json.Unmarshal(b, &name) == nil {
		switch name {
		case "http":
			*p = extAuthzProtocolSpec{HTTP: &extAuthzHTTPSpec{}}
		case "grpc":
			*p = extAuthzProtocolSpec{GRPC: &struct {
				Context  map[string]string `json:"context"`
				Metadata map[string]string `json:"metadata"`
			}{}}
		default:
			return fmt.Errorf("want grpc, http or an object, got %q", name)
		}
		return nil
	}
	type plain extAuthzProtocolSpec
	return unmarshalStrict(b, (*plain)(p))
}

// flatHTTP moves the older flat http settings (path, redirect and includeResponseHeaders next to
// protocol: http) into the http protocol; they mean nothing for grpc.
func (s *extAuthzSpec) flatHTTP(bc *BuildContext) error {
	if s.Path == "" && s.Redirect == "" && s.IncludeResponseHeaders == nil {
		return nil
	}
	if s.Protocol == nil || s.Protocol.HTTP == nil {
		return bc.Errorf("protocol", "path, redirect and includeResponseHeaders need protocol http")
	}
	h := s.Protocol.HTTP
	for _, f := range []struct {
		name     string
		flat, in bool
	}{{"path", s.Path != "", h.Path != ""}, {"redirect", s.Redirect != "", h.Redirect != ""}, {"includeResponseHeaders", s.IncludeResponseHeaders != nil, h.IncludeResponseHeaders != nil}} {
		if f.flat && f.in {
			return bc.Errorf(f.name, "set under protocol.http or here, not both")
		}
	}
	if s.Path != "" {
		h.Path = s.Path
	}
	if s.Redirect != "" {
		h.Redirect = s.Redirect
	}
	if s.IncludeResponseHeaders != nil {
		h.IncludeResponseHeaders = s.IncludeResponseHeaders
	}
	return nil
}

// hostPortHeaders folds `port` (beside a bare host name) into host and takes `headers` as
// includeRequestHeaders, as agentgateway's trust-scoring example writes them.
func (s *extAuthzSpec) hostPortHeaders(bc *BuildContext) error {
	if s.Port != 0 {
		switch {
		case s.Host == "":
			return bc.Errorf("port", "port needs host (a host name without a port)")
		case s.Port < 1 || s.Port > 65535:
			return bc.Errorf("port", "want a port between 1 and 65535, got %d", s.Port)
		}
		if _, _, err := net.SplitHostPort(s.Host); err == nil {
			return bc.Errorf("port", "host %q already names a port", s.Host)
		}
		s.Host = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	}
	if s.Headers != nil {
		if s.IncludeRequestHeaders != nil {
			return bc.Errorf("headers", "set headers or includeRequestHeaders, not both")
		}
		s.IncludeRequestHeaders = s.Headers
	}
	return nil
}
