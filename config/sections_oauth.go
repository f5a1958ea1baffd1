package config

import (
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// oauthSpec is backendAuth `oauth`, the shape agentgateway's published oauth-token-exchange examples
// use: the token endpoint under tokenEndpoint {host | service | backend} plus tokenEndpointPath, the
// rest as oauthTokenExchange. It is served by the oauthTokenExchange implementation.
type oauthSpec struct {
	TokenEndpoint         *oauthEndpointSpec `json:"tokenEndpoint"`
	TokenEndpointPath     string             `json:"tokenEndpointPath"`
	GrantType             string             `json:"grantType"`
	SubjectToken          *tokenSourceSpec   `json:"subjectToken"`
	ActorToken            *tokenSourceSpec   `json:"actorToken"`
	Audiences             []string           `json:"audiences"`
	Scopes                []string           `json:"scopes"`
	Resources             []string           `json:"resources"`
	RequestedTokenType    string             `json:"requestedTokenType"`
	ClientAuth            *clientAuthSpec    `json:"clientAuth"`
	AdditionalParams      map[string]string  `json:"additionalParams"`
	AuthorizationLocation *locationSpec      `json:"authorizationLocation"`
	Cache                 *tokenCacheSpec    `json:"cache"`
}

// oauthEndpointSpec is oauth's tokenEndpoint: one of a host, a service or a top-level named backend
// (whose backendTLS applies to the token call).
type oauthEndpointSpec struct {
	Host     string      `json:"host"`
	Service  *ServiceRef `json:"service"`
	Backend  string      `json:"backend"`
	Policies any         `json:"policies"`
}

// oauthShape maps backendAuth.oauth onto oauthTokenExchange; errors keep the oauth paths.
func (s *backendAuthSpec) oauthShape(bc *BuildContext) error {
	o := s.OAuth
	if o == nil {
		return nil
	}
	if s.OAuthTokenExchange != nil {
		return bc.Errorf("oauth", "oauth is another form of oauthTokenExchange: set one")
	}
	if o.TokenEndpoint == nil {
		return bc.Errorf("oauth.tokenEndpoint", "required")
	}
	e := o.TokenEndpoint
	s.OAuthTokenExchange = &tokenExchangeSpec{Host: e.Host, Service: e.Service, Backend: e.Backend, Path: o.TokenEndpointPath, Policies: e.Policies,
		GrantType: o.GrantType, SubjectToken: o.SubjectToken, ActorToken: o.ActorToken, Audiences: o.Audiences, Scopes: o.Scopes,
		Resources: o.Resources, RequestedTokenType: o.RequestedTokenType, ClientAuth: o.ClientAuth, AdditionalParams: o.AdditionalParams,
		AuthorizationLocation: o.AuthorizationLocation, Cache: o.Cache, field: "oauth", endpointField: "oauth.tokenEndpoint", pathField: "oauth.tokenEndpointPath"}
	s.OAuth = nil
	return nil
}

// tokenEndpoint is url plus the token endpoint given as a top-level named `host` backend: its host,
// dialed over TLS with the backend's backendTLS when it has one (the transport returned).
func (e endpointSpec) tokenEndpoint(bc *BuildContext, field string) (string, http.RoundTripper, error) {
	if e.Backend == "" {
		u, err := e.url(bc, field)
		return u, nil, err
	}
	switch {
	case e.Host != "" || e.Service != nil:
		return "", nil, bc.Errorf(field, "set one of host, service, backend")
	case e.Policies != nil:
		return "", nil, bc.Errorf(joinField(field, "policies"), "not supported with backend (give the policies on the named backend)")
	}
	bf := joinField(field, "backend")
	nb, err := bc.namedBackend(bf, e.Backend)
	if err != nil {
		return "", nil, err
	}
	if nb.spec.Kind != "host" {
		return "", nil, bc.Errorf(bf, "backend %q is a %s backend; a token endpoint needs a host backend", e.Backend, nb.spec.Kind)
	}
	host, err := Decode[string](nb.spec.Spec)
	if err != nil {
		return "", nil, err
	}
	var rt http.RoundTripper
	scheme := "http://"
	if !nb.spec.Policies.IsZero() {
		pols, err := Decode[struct {
			BackendTLS *backendTLSSpec `json:"backendTLS"`
		}](nb.spec.Policies)
		if err != nil {
			return "", nil, agentgateway.Errorf(nb.spec.Policies.path, "a token endpoint backend takes only backendTLS: %w", err)
		}
		if pols.BackendTLS != nil {
			tbc := *bc
			tbc.Path, tbc.Route = nb.spec.Policies.path+".backendTLS", ""
			p, err := buildBackendTLS(&tbc, *pols.BackendTLS)
			if err != nil {
				return "", nil, err
			}
			rt, scheme = p.(*policy.BackendTLS).Transport(), "https://"
		}
	}
	if !strings.Contains(host, "://") {
		host = scheme + host
	}
	path := e.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return strings.TrimSuffix(host, "/") + path, rt, nil
}
