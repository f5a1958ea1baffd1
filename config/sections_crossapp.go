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

// olderCrossAppNames reads backendAuth.xaa {idp, resourceAs, ...}, the names agentgateway's
// identity-assertion example uses, as crossAppAccess {identityProvider, resourceAuthorizationServer}.
func (s *backendAuthSpec) olderCrossAppNames(bc *BuildContext) error {
	if s.XAA != nil {
		if s.CrossAppAccess != nil {
			return bc.Errorf("xaa", "xaa is another name of crossAppAccess: set one")
		}
		s.CrossAppAccess, s.XAA = s.XAA, nil
	}
	x := s.CrossAppAccess
	if x == nil {
		return nil
	}
	for _, f := range []struct {
		old, name string
		from      **crossAppEndpointSpec
		to        *crossAppEndpointSpec
	}{{"idp", "identityProvider", &x.IDP, &x.IdentityProvider}, {"resourceAs", "resourceAuthorizationServer", &x.ResourceAS, &x.ResourceAuthorizationServer}} {
		if *f.from == nil {
			continue
		}
		if f.to.Host != "" || f.to.Service != nil || f.to.Backend != "" || f.to.ClientAuth != nil {
			return bc.Errorf("crossAppAccess."+f.old, "%s is another name of %s: set one", f.old, f.name)
		}
		*f.to, *f.from = **f.from, nil
	}
	return nil
}
