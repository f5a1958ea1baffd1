package config

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
	"github.com/agentgw/agentgateway/policy/awsauth"
	"github.com/agentgw/agentgateway/policy/azureauth"
)

// keyAuthSpec is backendAuth's key: the schema's shorthand (a FileOrInline, sent as a bearer token)
// or {value, location}.
type keyAuthSpec struct {
	Value    fileOrInline
	Location *locationSpec
}

// UnmarshalJSON accepts "secret", {file: path} or {value: ..., location: ...}.
func (k *keyAuthSpec) UnmarshalJSON(b []byte) error {
	var long struct {
		Value    *fileOrInline `json:"value"`
		Location *locationSpec `json:"location"`
	}
	if err := unmarshalStrict(b, &long); err == nil && long.Value != nil {
		*k = keyAuthSpec{Value: *long.Value, Location: long.Location}
		return nil
	}
	if err := unmarshalStrict(b, &k.Value); err != nil {
		return errors.New(`want a string, {file: path} or {value: ..., location: ...}`)
	}
	return nil
}

// credentialSpec is the schema's BackendAuthCredential: one more secret placed on the request.
type credentialSpec struct {
	Location *locationSpec `json:"location"`
	Key      fileOrInline  `json:"key"`
}

// endpointSpec is a token endpoint: host, service or backend (only host and service are supported)
// and the path on it.
type endpointSpec struct {
	Host     string      `json:"host"`
	Service  *ServiceRef `json:"service"`
	Backend  string      `json:"backend"`
	Path     string      `json:"path"`
	Policies any         `json:"policies"`
}

// url returns the token endpoint's URL: a host without a scheme is plain HTTP (give
// "https://host:port" for TLS).
func (e endpointSpec) url(bc *BuildContext, field string) (string, error) {
	switch {
	case e.Policies != nil:
		return "", bc.Errorf(joinField(field, "policies"), `not supported (for TLS, give the host as "https://host:port")`)
	case e.Backend != "":
		return "", bc.Errorf(joinField(field, "backend"), "only a host or service reference is supported here")
	case e.Host != "" && e.Service != nil:
		return "", bc.Errorf(field, "set one of host, service")
	}
	host := e.Host
	if e.Service != nil {
		h, err := bc.Service(joinField(field, "service"), *e.Service)
		if err != nil {
			return "", err
		}
		host = h
	}
	if host == "" {
		return "", bc.Errorf(joinField(field, "host"), "required")
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	path := e.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return strings.TrimSuffix(host, "/") + path, nil
}

// clientAuthSpec is the schema's OAuthClientAuth (without method: clientSecretBasic).
type clientAuthSpec struct {
	Method            string        `json:"method"`
	ClientID          string        `json:"clientId"`
	ClientSecret      *fileOrInline `json:"clientSecret"`
	SigningKey        *fileOrInline `json:"signingKey"`
	Certificate       *fileOrInline `json:"certificate"`
	CertificateHeader string        `json:"certificateHeader"`
	Alg               string        `json:"alg"`
	KID               string        `json:"kid"`
	AssertionAudience string        `json:"assertionAudience"`
}

func (c *clientAuthSpec) clientAuth(bc *BuildContext, field string) (*policy.ClientAuth, error) {
	if c == nil {
		return nil, nil
	}
	out := &policy.ClientAuth{Method: c.Method, ClientID: c.ClientID, CertificateHeader: c.CertificateHeader, Alg: c.Alg, KID: c.KID, AssertionAudience: c.AssertionAudience}
	if c.ClientSecret != nil {
		b, err := c.ClientSecret.load(bc, joinField(field, "clientSecret"))
		if err != nil {
			return nil, err
		}
		out.ClientSecret = strings.TrimSpace(string(b))
	}
	if (c.Method == "" || c.Method == "clientSecretBasic") && out.ClientSecret == "" {
		return nil, bc.Errorf(joinField(field, "clientSecret"), "required")
	}
	if c.SigningKey != nil {
		out.SigningKey = keySource(bc, *c.SigningKey)
	} else if c.Method == "privateKeyJwt" {
		return nil, bc.Errorf(joinField(field, "signingKey"), "required")
	}
	if c.Certificate != nil {
		b, err := c.Certificate.load(bc, joinField(field, "certificate"))
		if err != nil {
			return nil, err
		}
		out.Certificate = b
	}
	return out, nil
}

// keySource keeps a key file as a file, so the policy reloads it when it changes.
func keySource(bc *BuildContext, f fileOrInline) policy.KeySource {
	if f.File != "" {
		return policy.KeySource{File: bc.File(f.File)}
	}
	return policy.KeySource{PEM: []byte(f.Inline)}
}

// tokenCacheSpec is the schema's TokenCacheConfig.
type tokenCacheSpec struct {
	MaxEntries *int          `json:"maxEntries"`
	DefaultTTL time.Duration `json:"defaultTtl"`
}

func (c *tokenCacheSpec) cache() policy.TokenCache {
	if c == nil {
		return policy.TokenCache{}
	}
	return policy.TokenCache{MaxEntries: c.MaxEntries, DefaultTTL: c.DefaultTTL}
}

// tokenSpecSpec is the schema's TokenSpec / ActorTokenSpec / CrossAppAccessSubjectToken.
type tokenSourceSpec struct {
	Source        *locationSpec `json:"source"`
	TokenType     string        `json:"tokenType"`
	EnforceMayAct bool          `json:"enforceMayAct"`
}

func (t *tokenSourceSpec) source(bc *BuildContext, field string) (*policy.TokenSource, error) {
	if t == nil {
		return nil, nil
	}
	if t.EnforceMayAct && !strings.HasSuffix(field, "actorToken") {
		return nil, bc.Errorf(joinField(field, "enforceMayAct"), "applies to actorToken")
	}
	loc, err := t.Source.location(bc, joinField(field, "source"))
	if err != nil {
		return nil, err
	}
	return &policy.TokenSource{Location: loc, TokenType: t.TokenType, EnforceMayAct: t.EnforceMayAct}, nil
}

// jwtSignSpec is the schema's JwtSignAuth.
type jwtSignSpec struct {
	SigningKey fileOrInline   `json:"signingKey"`
	Alg        string         `json:"alg"`
	KID        string         `json:"kid"`
	Claims     map[string]any `json:"claims"`
	TTL        time.Duration  `json:"ttl"`
	Location   *locationSpec  `json:"location"`
}

// tokenExchangeSpec is the schema's OAuthTokenExchangeAuth.
type tokenExchangeSpec struct {
	Host                  string            `json:"host"`
	Service               *ServiceRef       `json:"service"`
	Backend               string            `json:"backend"`
	Path                  string            `json:"path"`
	Policies              any               `json:"policies"`
	GrantType             string            `json:"grantType"`
	SubjectToken          *tokenSourceSpec  `json:"subjectToken"`
	ActorToken            *tokenSourceSpec  `json:"actorToken"`
	Audiences             []string          `json:"audiences"`
	Scopes                []string          `json:"scopes"`
	Resources             []string          `json:"resources"`
	RequestedTokenType    string            `json:"requestedTokenType"`
	ClientAuth            *clientAuthSpec   `json:"clientAuth"`
	AdditionalParams      map[string]string `json:"additionalParams"`
	AuthorizationLocation *locationSpec     `json:"authorizationLocation"`
	Cache                 *tokenCacheSpec   `json:"cache"`
	// field, endpointField and pathField name the spec's parts in errors when it came from the
	// oauth shape (sections_oauth.go); empty: oauthTokenExchange.
	field, endpointField, pathField string
}

// crossAppEndpointSpec is the schema's CrossAppAccessEndpoint.
type crossAppEndpointSpec struct {
	Host       string          `json:"host"`
	Service    *ServiceRef     `json:"service"`
	Backend    string          `json:"backend"`
	Path       string          `json:"path"`
	Policies   any             `json:"policies"`
	ClientAuth *clientAuthSpec `json:"clientAuth"`
	// TokenEndpointPath is the newer name of Path (sections_crossapp.go).
	TokenEndpointPath string `json:"tokenEndpointPath"`
}

// crossAppAccessSpec is the schema's CrossAppAccessAuth.
type crossAppAccessSpec struct {
	IdentityProvider            crossAppEndpointSpec `json:"identityProvider"`
	ResourceAuthorizationServer crossAppEndpointSpec `json:"resourceAuthorizationServer"`
	Audience                    string               `json:"audience"`
	Resources                   []string             `json:"resources"`
	Scopes                      []string             `json:"scopes"`
	AccessTokenScopes           *[]string            `json:"accessTokenScopes"`
	SubjectToken                *tokenSourceSpec     `json:"subjectToken"`
	Cache                       *tokenCacheSpec      `json:"cache"`
	// IDP and ResourceAS are the older names of the two endpoints (sections_crossapp.go).
	IDP        *crossAppEndpointSpec `json:"idp"`
	ResourceAS *crossAppEndpointSpec `json:"resourceAs"`
}

// buildTokenAuth builds the jwtSign, oauthTokenExchange and crossAppAccess kinds (ok false: s is
// another kind).
func buildTokenAuth(bc *BuildContext, s backendAuthSpec) (agentgateway.Policy, bool, error) {
	var cfg policy.BackendAuthConfig
	switch {
	case s.JWTSign != nil:
		j := s.JWTSign
		loc, err := j.Location.location(bc, "jwtSign.location")
		if err != nil {
			return nil, true, err
		}
		if j.SigningKey.File == "" && j.SigningKey.Inline == "" {
			return nil, true, bc.Errorf("jwtSign.signingKey", "required")
		}
		if j.SigningKey.File != "" { // fail at load on an unreadable file, with the file's path
			if _, err := bc.ReadFile("jwtSign.signingKey.file", j.SigningKey.File); err != nil {
				return nil, true, err
			}
		}
		cfg.JWTSign = &policy.JWTSignAuth{SigningKey: keySource(bc, j.SigningKey), Alg: j.Alg, KID: j.KID, Claims: j.Claims, TTL: j.TTL, Location: loc}
	case s.OAuthTokenExchange != nil:
		x := s.OAuthTokenExchange
		f, ef := "oauthTokenExchange", "oauthTokenExchange"
		if x.field != "" {
			f, ef = x.field, x.endpointField
			if x.Host == "" && x.Service == nil && x.Backend == "" {
				return nil, true, bc.Errorf(ef, "set one of host, service, backend")
			}
		}
		u, rt, err := endpointSpec{x.Host, x.Service, x.Backend, x.Path, x.Policies}.tokenEndpoint(bc, ef)
		if err != nil {
			return nil, true, err
		}
		te := &policy.OAuthTokenExchange{TokenURL: u, Transport: rt, GrantType: x.GrantType, Audiences: x.Audiences, Scopes: x.Scopes, Resources: x.Resources,
			RequestedTokenType: x.RequestedTokenType, AdditionalParams: x.AdditionalParams, Cache: x.Cache.cache()}
		if te.SubjectToken, err = x.SubjectToken.source(bc, f+".subjectToken"); err != nil {
			return nil, true, err
		}
		if te.ActorToken, err = x.ActorToken.source(bc, f+".actorToken"); err != nil {
			return nil, true, err
		}
		if te.ClientAuth, err = x.ClientAuth.clientAuth(bc, f+".clientAuth"); err != nil {
			return nil, true, err
		}
		if te.Location, err = x.AuthorizationLocation.location(bc, f+".authorizationLocation"); err != nil {
			return nil, true, err
		}
		cfg.TokenExchange = te
	case s.CrossAppAccess != nil:
		x := s.CrossAppAccess
		const f = "crossAppAccess"
		ca := &policy.CrossAppAccess{Audience: x.Audience, Resources: x.Resources, Scopes: x.Scopes, Cache: x.Cache.cache()}
		if x.AccessTokenScopes != nil {
			ca.AccessTokenScopes = append([]string{}, (*x.AccessTokenScopes)...)
		}
		for _, e := range []struct {
			field string
			spec  crossAppEndpointSpec
			dst   *policy.TokenEndpoint
		}{{f + ".identityProvider", x.IdentityProvider, &ca.IdentityProvider}, {f + ".resourceAuthorizationServer", x.ResourceAuthorizationServer, &ca.ResourceAuthorizationServer}} {
			es, err := crossAppEndpoint(bc, e.field, e.spec)
			if err != nil {
				return nil, true, err
			}
			u, err := es.url(bc, e.field)
			if err != nil {
				return nil, true, err
			}
			if e.spec.ClientAuth == nil {
				return nil, true, bc.Errorf(e.field+".clientAuth", "required")
			}
			a, err := e.spec.ClientAuth.clientAuth(bc, e.field+".clientAuth")
			if err != nil {
				return nil, true, err
			}
			*e.dst = policy.TokenEndpoint{TokenURL: u, ClientAuth: *a}
		}
		var err error
		if ca.SubjectToken, err = x.SubjectToken.source(bc, f+".subjectToken"); err != nil {
			return nil, true, err
		}
		cfg.CrossAppAccess = ca
	default:
		return nil, false, nil
	}
	p, err := policy.NewBackendAuth(cfg)
	if err != nil {
		return nil, true, bc.Wrap(mapPaths(err, func(p string) string {
			p = locationPath(p)
			if x := s.OAuthTokenExchange; x != nil && x.field != "" {
				// The policy names the endpoint URL "host".
				p = strings.Replace(p, "oauthTokenExchange.host", x.endpointField, 1)
				p = strings.Replace(p, "oauthTokenExchange", x.field, 1)
			}
			// The policy names the endpoint URL "host"; the token exchange's location is the schema's
			// authorizationLocation already.
			return p
		}))
	}
	if c, ok := p.(interface{ Close() error }); ok {
		bc.OnClose(closerFunc(c.Close))
	}
	return p, true, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// withCredentials adds the schema's `credentials` (more secrets placed on the backend request) after
// the main credential.
func withCredentials(bc *BuildContext, main agentgateway.Policy, creds []credentialSpec) (agentgateway.Policy, error) {
	if len(creds) == 0 {
		return main, nil
	}
	var pols []agentgateway.Policy
	if main != nil {
		pols = append(pols, main)
	}
	for i, c := range creds {
		field := fmt.Sprintf("credentials[%d]", i)
		if c.Location == nil {
			return nil, bc.Errorf(field+".location", "required")
		}
		loc, err := c.Location.location(bc, field+".location")
		if err != nil {
			return nil, err
		}
		v, err := c.Key.load(bc, field+".key")
		if err != nil {
			return nil, err
		}
		p, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: string(v), Location: loc}})
		if err != nil {
			return nil, bc.Wrap(mapPaths(err, func(p string) string {
				return strings.Replace(strings.Replace(locationPath(p), "key.location", field+".location", 1), "key.value", field+".key", 1)
			}))
		}
		pols = append(pols, p)
	}
	return &credentialsPolicy{Policy: agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
		for i := len(pols) - 1; i >= 0; i-- {
			next = pols[i].Wrap(next)
		}
		return next
	}), pols: pols}, nil
}

// credentialsPolicy is a backendAuth kind plus its credentials; Provision reaches the kind (token
// exchanges trace their calls and use the gateway's transport hook).
type credentialsPolicy struct {
	agentgateway.Policy
	pols []agentgateway.Policy
}

// Provision implements agentgateway.Provisioner.
func (c *credentialsPolicy) Provision(svc agentgateway.Services) error {
	for _, p := range c.pols {
		if pr, ok := p.(agentgateway.Provisioner); ok {
			if err := pr.Provision(svc); err != nil {
				return err
			}
		}
	}
	return nil
}

// assumeRoleSpec is the schema's AwsAssumeRole.
type assumeRoleSpec struct {
	RoleARN     string           `json:"roleArn"`
	SessionName *sessionNameSpec `json:"sessionName"`
	Tags        []struct {
		Key        string `json:"key"`
		Value      string `json:"value"`
		Expression string `json:"expression"`
	} `json:"tags"`
}

// sessionNameSpec is the schema's AwsSessionName: a string or {expression: CEL}.
type sessionNameSpec struct {
	Static     string
	Expression string
}

// UnmarshalJSON accepts "name" or {expression: "..."}.
func (s *sessionNameSpec) UnmarshalJSON(b []byte) error {
	if unmarshalStrict(b, &s.Static) == nil {
		return nil
	}
	var o struct {
		Expression string `json:"expression"`
	}
	if err := unmarshalStrict(b, &o); err != nil || o.Expression == "" {
		return errors.New("want a string or {expression: CEL}")
	}
	s.Expression = o.Expression
	return nil
}

// buildAssumeRole builds the aws kind with assumeRole: the base credentials are the default chain's
// (the schema's implicit form), or the explicit ones.
func buildAssumeRole(bc *BuildContext, s backendAuthSpec) (agentgateway.Policy, error) {
	a := s.AWS
	ar := &awsauth.AssumeRole{RoleARN: a.AssumeRole.RoleARN}
	if n := a.AssumeRole.SessionName; n != nil {
		ar.SessionName, ar.SessionNameExpression = n.Static, n.Expression
	}
	for _, t := range a.AssumeRole.Tags {
		ar.Tags = append(ar.Tags, awsauth.SessionTag{Key: t.Key, Value: t.Value, Expression: t.Expression})
	}
	p, err := awsauth.New(awsauth.Config{AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey, SessionToken: a.SessionToken,
		Region: a.Region, ServiceName: a.ServiceName, AssumeRole: ar})
	if err != nil {
		return nil, bc.At("aws").Wrap(err)
	}
	return p, nil
}

// azureAuthSpec is the schema's AzureAuth.
type azureAuthSpec struct {
	ExplicitConfig *struct {
		ClientSecret *struct {
			TenantID     string `json:"tenant_id"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		} `json:"clientSecret"`
		ManagedIdentity *struct {
			UserAssignedIdentity *struct {
				ClientID   string `json:"clientId"`
				ObjectID   string `json:"objectId"`
				ResourceID string `json:"resourceId"`
			} `json:"userAssignedIdentity"`
		} `json:"managedIdentity"`
		WorkloadIdentity *struct{} `json:"workloadIdentity"`
	} `json:"explicitConfig"`
	DeveloperImplicit *struct{} `json:"developerImplicit"`
	Implicit          *struct{} `json:"implicit"`
}

func buildAzureAuth(bc *BuildContext, a *azureAuthSpec) (agentgateway.Policy, error) {
	var cfg azureauth.Config
	switch {
	case a.DeveloperImplicit != nil:
		return nil, bc.Errorf("azure.developerImplicit", "not supported (developer tool credentials); use implicit or explicitConfig")
	case a.Implicit != nil:
		cfg.Implicit = true
	case a.ExplicitConfig != nil:
		e := a.ExplicitConfig
		if c := e.ClientSecret; c != nil {
			cfg.ClientSecret = &azureauth.ClientSecret{TenantID: c.TenantID, ClientID: c.ClientID, Secret: c.ClientSecret}
		}
		if m := e.ManagedIdentity; m != nil {
			cfg.ManagedIdentity = &azureauth.ManagedIdentity{}
			if u := m.UserAssignedIdentity; u != nil {
				*cfg.ManagedIdentity = azureauth.ManagedIdentity{ClientID: u.ClientID, ObjectID: u.ObjectID, ResourceID: u.ResourceID}
			}
		}
		if e.WorkloadIdentity != nil {
			cfg.WorkloadIdentity = &azureauth.WorkloadIdentity{}
		}
	}
	p, err := azureauth.New(cfg)
	if err != nil {
		return nil, bc.At("azure").Wrap(err)
	}
	return p, nil
}

// Phase is agentgateway.PhaseBackend.
func (c *credentialsPolicy) Phase() agentgateway.Phase { return agentgateway.PhaseBackend }
