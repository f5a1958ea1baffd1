package config

import (
	"strings"
)

// crossAppEndpoint reads the forms agentgateway's published cross-app-access examples use for a token
// endpoint: tokenEndpointPath (the newer name of path) and policies {backendTLS: {}} (TLS to the
// endpoint with the system roots: the host is dialed as https). Anything else under policies is left
// for endpointSpec.url to refuse.
func crossAppEndpoint(bc *BuildContext, field string, s crossAppEndpointSpec) (endpointSpec, error) {
	e := endpointSpec{Host: s.Host, Service: s.Service, Backend: s.Backend, Path: s.Path, Policies: s.Policies}
	if s.TokenEndpointPath != "" {
		if s.Path != "" {
			return e, bc.Errorf(field, "set one of path and tokenEndpointPath")
		}
		e.Path = s.TokenEndpointPath
	}
	if m, ok := s.Policies.(map[string]any); ok && len(m) == 1 {
		if tls, ok := m["backendTLS"].(map[string]any); ok && len(tls) == 0 {
			e.Policies = nil
			switch {
			case e.Host != "" && !strings.Contains(e.Host, "://"):
				e.Host = "https://" + e.Host
			case e.Host == "":
				return e, bc.Errorf(joinField(field, "policies.backendTLS"), `only a host endpoint can use backendTLS here`)
			}
		}
	}
	return e, nil
}
