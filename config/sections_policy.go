package config

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
	"github.com/agentgw/agentgateway/policy/awsauth"
	"github.com/agentgw/agentgateway/policy/extauthz"
	"github.com/agentgw/agentgateway/policy/gcpauth"
	"github.com/agentgw/agentgateway/policy/remoteratelimit"
)

// policyPolicies are the route policies of package policy and its subpackages, one row per schema
// key. Each row decodes the schema's shape (the unexported *Spec types below, named after the schema's
// $defs), translates it into the package's Go config — reading files, resolving services, applying the
// schema's defaults — and relocates the constructor's errors to the file's field paths.
var policyPolicies = []PolicySection{
	Policy("cors", buildCORS),
	Policy("jwtAuth", buildJWT),
	Policy("apiKey", buildAPIKey),
	Policy("basicAuth", buildBasicAuth),
	Policy("extAuthz", buildExtAuthz),
	Policy("authorization", func(bc *BuildContext, s ruleSetSpec) (agentgateway.Policy, error) {
		return wrapPolicy(bc)(policy.NewAuthorization(policy.AuthorizationConfig{Rules: s.Rules}))
	}),
	Policy("localRateLimit", buildLocalRateLimit),
	Policy("remoteRateLimit", buildRemoteRateLimit),
	Policy("timeout", func(bc *BuildContext, s timeoutSpec) (agentgateway.Policy, error) {
		return wrapPolicy(bc)(policy.NewTimeout(policy.TimeoutConfig(s)))
	}),
	Policy("retry", buildRetry),
	Policy("csrf", buildCSRF),
	Policy("delay", buildDelay),
	Policy("buffer", buildBuffer),
	Policy("sessionAffinity", buildSessionAffinity),
	{Key: "requestMirror", Build: buildMirrors}, // sections_mirrors.go
	Policy("transformations", buildTransformations),
	Policy("backendTLS", buildBackendTLS),
	Policy("backendAuth", buildBackendAuth),
}

// wrapPolicy locates a constructor's error under the section's path.
func wrapPolicy(bc *BuildContext) func(agentgateway.Policy, error) (agentgateway.Policy, error) {
	return func(p agentgateway.Policy, err error) (agentgateway.Policy, error) {
		if err != nil {
			return nil, bc.Wrap(err)
		}
		return p, nil
	}
}

// ruleSetSpec is the schema's RuleSet: CEL rules, each a bare string (allow) or {allow|deny|require}.
type ruleSetSpec struct {
	Rules []cel.Rule `json:"rules"`
}

// --- shared shapes ---

// unmarshalStrict decodes JSON into v, refusing unknown fields (for the one-of shapes' objects).
func unmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// fileOrInline is a value given inline or read from a file: a string or {file: path}.
type fileOrInline struct {
	File   string
	Inline string
}

// UnmarshalJSON accepts "inline" or {"file": "path"}.
func (f *fileOrInline) UnmarshalJSON(b []byte) error {
	v, err := decodeSource(b, false)
	*f = fileOrInline{File: v.File, Inline: v.Inline}
	return err
}

// decodeSource decodes a string, {file: path} or (when allowURL) {url: ...}.
func decodeSource(b []byte, allowURL bool) (fileInlineOrRemote, error) {
	var s string
	if err := unmarshalStrict(b, &s); err == nil {
		return fileInlineOrRemote{Inline: s}, nil
	}
	var o struct {
		File string `json:"file"`
		URL  string `json:"url"`
	}
	if err := unmarshalStrict(b, &o); err != nil || (o.File == "") == (o.URL == "") || (!allowURL && o.URL != "") {
		if allowURL {
			return fileInlineOrRemote{}, errors.New(`want a string, {file: path} or {url: "https://..."}`)
		}
		return fileInlineOrRemote{}, errors.New(`want a string or {file: path}`)
	}
	return fileInlineOrRemote{File: o.File, URL: o.URL}, nil
}

// load returns the value, reading the file (an error at field+".file").
func (f fileOrInline) load(bc *BuildContext, field string) ([]byte, error) {
	if f.File != "" {
		return bc.ReadFile(joinField(field, "file"), f.File)
	}
	return []byte(f.Inline), nil
}

// fileInlineOrRemote is a value given inline, read from a file or fetched from a URL: a string,
// {file: path} or {url: "https://..."}.
type fileInlineOrRemote struct {
	File   string
	Inline string
	URL    string
}

// UnmarshalJSON accepts "inline", {"file": "path"} or {"url": "https://..."}.
func (f *fileInlineOrRemote) UnmarshalJSON(b []byte) error {
	v, err := decodeSource(b, true)
	*f = v
	return err
}

// jwks reads the key set (a file's content is the set, as an inline value is).
func (f fileInlineOrRemote) jwks(bc *BuildContext, field string) (policy.JWKS, error) {
	switch {
	case f.URL != "":
		return policy.JWKS{URL: f.URL}, nil
	case f.File != "":
		b, err := bc.ReadFile(joinField(field, "file"), f.File)
		return policy.JWKS{JSON: b}, err
	}
	return policy.JWKS{JSON: []byte(f.Inline)}, nil
}

// locationSpec is the schema's AuthorizationLocation: exactly one of header, queryParameter, cookie
// and expression.
type locationSpec struct {
	Header *struct {
		Name   string  `json:"name"`
		Prefix *string `json:"prefix"`
	} `json:"header"`
	QueryParameter *nameSpec `json:"queryParameter"`
	Cookie         *nameSpec `json:"cookie"`
	Expression     string    `json:"expression"`
}

type nameSpec struct {
	Name string `json:"name"`
}

// location translates the spec (nil stays nil: the policy's default). Empty names are errors here,
// where the schema's field is known.
func (l *locationSpec) location(bc *BuildContext, field string) (*policy.Location, error) {
	if l == nil {
		return nil, nil
	}
	out := &policy.Location{Expression: l.Expression}
	if h := l.Header; h != nil {
		if h.Name == "" {
			return nil, bc.Errorf(field+".header.name", "invalid header name %q", "")
		}
		out.Header = h.Name
		if h.Prefix != nil {
			out.Prefix = *h.Prefix
		}
	}
	if q := l.QueryParameter; q != nil {
		if q.Name == "" {
			return nil, bc.Errorf(field+".queryParameter.name", "required")
		}
		out.QueryParameter = q.Name
	}
	if c := l.Cookie; c != nil {
		if c.Name == "" {
			return nil, bc.Errorf(field+".cookie.name", "invalid cookie name %q", "")
		}
		out.Cookie = c.Name
	}
	return out, nil
}

// locationPath moves an error about a policy.Location's name field to the schema's {name: ...}.
func locationPath(p string) string {
	for _, k := range []string{".header", ".queryParameter", ".cookie"} {
		if strings.HasSuffix(p, "ocation"+k) { // location, authorizationLocation
			return p + ".name"
		}
	}
	return p
}

// parseMode reads an authentication mode; the schema's default is optional.
// authnCommon translates the mode and the credential location every authentication policy has.
func authnCommon(bc *BuildContext, mode string, loc *locationSpec, locField string, allowed ...policy.Mode) (policy.Mode, *policy.Location, error) {
	m, err := parseMode(bc, mode, allowed...)
	if err != nil {
		return m, nil, err
	}
	l, err := loc.location(bc, locField)
	return m, l, err
}

func parseMode(bc *BuildContext, s string, allowed ...policy.Mode) (policy.Mode, error) {
	if s == "" {
		return policy.ModeOptional, nil
	}
	for _, m := range allowed {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, bc.Errorf("mode", "unknown mode %q (want one of %v)", s, allowed)
}

var allModes = []policy.Mode{policy.ModeStrict, policy.ModeOptional, policy.ModePermissive}

// --- cors ---

// corsSpec is the schema's CorsSerde.
type corsSpec struct {
	AllowCredentials bool           `json:"allowCredentials"`
	AllowHeaders     []string       `json:"allowHeaders"`
	AllowMethods     []string       `json:"allowMethods"`
	AllowOrigins     []string       `json:"allowOrigins"`
	ExposeHeaders    []string       `json:"exposeHeaders"`
	MaxAge           *time.Duration `json:"maxAge"`
}

func buildCORS(bc *BuildContext, s corsSpec) (agentgateway.Policy, error) {
	p, err := policy.NewCORS(policy.CORSConfig(s))
	return wrapPolicy(bc)(p, err)
}

// --- jwtAuth ---

// jwtSpec is the schema's LocalJwtConfig: a list of providers, or the fields of a single one.
type jwtSpec struct {
	Mode                 string              `json:"mode"`
	Location             *locationSpec       `json:"location"`
	Providers            []jwtProviderSpec   `json:"providers"`
	Issuer               string              `json:"issuer"`
	Audiences            []string            `json:"audiences"`
	JWKS                 *fileInlineOrRemote `json:"jwks"`
	JWTValidationOptions *jwtValidationSpec  `json:"jwtValidationOptions"`
}

// jwtProviderSpec is the schema's ProviderConfig.
type jwtProviderSpec struct {
	Issuer               string             `json:"issuer"`
	Audiences            []string           `json:"audiences"`
	JWKS                 fileInlineOrRemote `json:"jwks"`
	JWTValidationOptions *jwtValidationSpec `json:"jwtValidationOptions"`
}

// jwtValidationSpec is the schema's JWTValidationOptions.
type jwtValidationSpec struct {
	RequiredClaims []string `json:"requiredClaims"`
}

func buildJWT(bc *BuildContext, s jwtSpec) (agentgateway.Policy, error) {
	mode, loc, err := authnCommon(bc, s.Mode, s.Location, "location", allModes...)
	if err != nil {
		return nil, err
	}
	cfg := policy.JWTConfig{Mode: mode, Location: loc}
	providers := s.Providers
	single := s.Issuer != "" || s.JWKS != nil
	switch {
	case single && len(providers) > 0:
		return nil, bc.Errorf("providers", "set either providers or issuer/jwks, not both")
	case single && s.JWKS == nil:
		return nil, bc.Errorf("jwks", "required")
	case single:
		providers = []jwtProviderSpec{{Issuer: s.Issuer, Audiences: s.Audiences, JWKS: *s.JWKS, JWTValidationOptions: s.JWTValidationOptions}}
	}
	for i, p := range providers {
		field := fmt.Sprintf("providers[%d]", i)
		if single {
			field = "" // the provider's fields are the policy's own
		}
		jwks, err := p.JWKS.jwks(bc, joinField(field, "jwks"))
		if err != nil {
			return nil, err
		}
		gp := policy.JWTProvider{Issuer: p.Issuer, Audiences: p.Audiences, JWKS: jwks}
		if o := p.JWTValidationOptions; o != nil {
			gp.RequiredClaims = append([]string{}, o.RequiredClaims...) // present, even empty: no default
		}
		cfg.Providers = append(cfg.Providers, gp)
	}
	j, err := policy.NewJWT(cfg)
	if err != nil {
		return nil, bc.Wrap(mapPaths(err, func(p string) string {
			p = strings.Replace(locationPath(p), "requiredClaims[", "jwtValidationOptions.requiredClaims[", 1)
			if single {
				p = strings.TrimPrefix(strings.TrimPrefix(p, "providers[0]"), ".")
			}
			return p
		}))
	}
	return j, nil
}

// --- apiKey ---

// apiKeySpec is the schema's LocalAPIKeys.
type apiKeySpec struct {
	Keys     []apiKeyEntrySpec `json:"keys"`
	Mode     string            `json:"mode"`
	Location *locationSpec     `json:"location"`
}

// apiKeyEntrySpec is one key: the key or its "sha256:<hex>" hash, with metadata (any value; an
// object's fields become apiKey.<field>, anything else is apiKey.metadata).
type apiKeyEntrySpec struct {
	Key           string   `json:"key"`
	KeyHash       string   `json:"keyHash"`
	Metadata      any      `json:"metadata"`
	AllowedModels []string `json:"allowedModels"`
}

func buildAPIKey(bc *BuildContext, s apiKeySpec) (agentgateway.Policy, error) {
	mode, loc, err := authnCommon(bc, s.Mode, s.Location, "location", allModes...)
	if err != nil {
		return nil, err
	}
	cfg := policy.APIKeyConfig{Mode: mode, Location: loc}
	for _, k := range s.Keys {
		key := policy.APIKey{Key: k.Key, KeyHash: k.KeyHash, AllowedModels: k.AllowedModels}
		switch m := k.Metadata.(type) {
		case nil:
		case map[string]any:
			key.Metadata = m
		default:
			key.Metadata = map[string]any{"metadata": m}
		}
		cfg.Keys = append(cfg.Keys, key)
	}
	p, err := policy.NewAPIKey(cfg)
	if err != nil {
		return nil, bc.Wrap(mapPaths(err, locationPath))
	}
	return p, nil
}

// --- basicAuth ---

// basicAuthSpec is the schema's LocalBasicAuth.
type basicAuthSpec struct {
	Htpasswd fileOrInline `json:"htpasswd"`
	// HtpasswdFile is agentgateway's earlier spelling of `htpasswd: {file: path}`, which its
	// basic-authentication example still uses.
	HtpasswdFile          string        `json:"htpasswdFile"`
	Realm                 string        `json:"realm"`
	Mode                  string        `json:"mode"`
	AuthorizationLocation *locationSpec `json:"authorizationLocation"`
}

func buildBasicAuth(bc *BuildContext, s basicAuthSpec) (agentgateway.Policy, error) {
	mode, loc, err := authnCommon(bc, s.Mode, s.AuthorizationLocation, "authorizationLocation", policy.ModeStrict, policy.ModeOptional)
	if err != nil {
		return nil, err
	}
	field := "htpasswd"
	if s.HtpasswdFile != "" {
		if s.Htpasswd != (fileOrInline{}) {
			return nil, bc.Errorf("htpasswdFile", "set htpasswd or htpasswdFile, not both")
		}
		s.Htpasswd, field = fileOrInline{File: s.HtpasswdFile}, "htpasswdFile"
	}
	htpasswd, err := s.Htpasswd.load(bc, field)
	if err != nil {
		return nil, err
	}
	p, err := policy.NewBasicAuth(policy.BasicAuthConfig{Htpasswd: htpasswd, Realm: s.Realm, Mode: mode, Location: loc})
	if err != nil {
		return nil, bc.Wrap(mapPaths(err, func(p string) string {
			if rest, ok := strings.CutPrefix(p, "location"); ok {
				p = "authorizationLocation" + rest
			}
			return locationPath(p)
		}))
	}
	return p, nil
}

// --- extAuthz ---

// extAuthzSpec is the schema's ExtAuthz. Only a host, or a service resolved to one, is supported as
// the target; policies are not supported.
type extAuthzSpec struct {
	Host                  string                `json:"host"`
	Service               *ServiceRef           `json:"service"`
	Backend               string                `json:"backend"`
	Protocol              *extAuthzProtocolSpec `json:"protocol"`
	FailureMode           *extAuthzFailureSpec  `json:"failureMode"`
	IncludeRequestHeaders []string              `json:"includeRequestHeaders"`
	IncludeRequestBody    *struct {
		MaxRequestBytes     uint32 `json:"maxRequestBytes"`
		AllowPartialMessage bool   `json:"allowPartialMessage"`
		PackAsBytes         bool   `json:"packAsBytes"`
	} `json:"includeRequestBody"`
	Timeout  time.Duration `json:"timeout"`
	Policies any           `json:"policies"`
	Cache    *struct {
		Key        []string `json:"key"`
		TTL        string   `json:"ttl"`
		MaxEntries *int     `json:"maxEntries"`
	} `json:"cache"`
	// The older flat form of the http protocol's settings (sections_extauthz_compat.go).
	Path                   string   `json:"path"`
	Redirect               string   `json:"redirect"`
	IncludeResponseHeaders []string `json:"includeResponseHeaders"`
	// Port beside host and headers for includeRequestHeaders are the spellings of agentgateway's
	// trust-scoring example (sections_extauthz_compat.go).
	Port    int      `json:"port"`
	Headers []string `json:"headers"`
}

// extAuthzProtocolSpec is {grpc: {...}} (the default) or {http: {...}}.
type extAuthzProtocolSpec struct {
	GRPC *struct {
		Context  map[string]string `json:"context"`
		Metadata map[string]string `json:"metadata"`
	} `json:"grpc"`
	HTTP *extAuthzHTTPSpec `json:"http"`
}

// extAuthzHTTPSpec is the http protocol's settings.
type extAuthzHTTPSpec struct {
	Path                   string            `json:"path"`
	Redirect               string            `json:"redirect"`
	Body                   string            `json:"body"`
	IncludeResponseHeaders []string          `json:"includeResponseHeaders"`
	AddRequestHeaders      map[string]string `json:"addRequestHeaders"`
	Metadata               map[string]string `json:"metadata"`
}

// extAuthzFailureSpec is "allow", "deny" or {denyWithStatus: code}.
type extAuthzFailureSpec struct {
	Mode       agentgateway.FailureMode
	DenyStatus int
}

// UnmarshalJSON decodes the one-of.
func (f *extAuthzFailureSpec) UnmarshalJSON(b []byte) error {
	var s string
	if unmarshalStrict(b, &s) == nil {
		switch strings.ToLower(s) { // the published examples also write Deny / Allow
		case "allow":
			*f = extAuthzFailureSpec{Mode: agentgateway.FailOpen}
		case "deny":
			*f = extAuthzFailureSpec{}
		default:
			return fmt.Errorf("want allow, deny or {denyWithStatus: code}, got %q", s)
		}
		return nil
	}
	var o struct {
		DenyWithStatus int `json:"denyWithStatus"`
	}
	if err := unmarshalStrict(b, &o); err != nil || o.DenyWithStatus < 100 || o.DenyWithStatus > 599 {
		return fmt.Errorf("want allow, deny or {denyWithStatus: 100..599}")
	}
	*f = extAuthzFailureSpec{DenyStatus: o.DenyWithStatus}
	return nil
}

func buildExtAuthz(bc *BuildContext, s extAuthzSpec) (agentgateway.Policy, error) {
	if err := s.flatHTTP(bc); err != nil {
		return nil, err
	}
	if err := s.hostPortHeaders(bc); err != nil {
		return nil, err
	}
	switch {
	case s.Policies != nil:
		return nil, bc.Errorf("policies", "not supported")
	case s.Backend != "":
		return nil, bc.Errorf("host", "only a host reference is supported here")
	}
	cfg := extauthz.Config{Host: s.Host, IncludeRequestHeaders: s.IncludeRequestHeaders, Timeout: s.Timeout}
	if c := s.Cache; c != nil && (c.MaxEntries == nil || *c.MaxEntries > 0) { // maxEntries 0: no cache
		cfg.Cache = &extauthz.Cache{Key: c.Key, TTL: c.TTL}
		if c.MaxEntries != nil {
			cfg.Cache.MaxEntries = *c.MaxEntries
		}
	}
	if b := s.IncludeRequestBody; b != nil {
		max := b.MaxRequestBytes
		if max == 0 && bc.MaxBufferSize > 0 {
			max = uint32(min(bc.MaxBufferSize, math.MaxUint32))
		}
		cfg.IncludeRequestBody = &extauthz.BodyOptions{MaxRequestBytes: max, AllowPartialMessage: b.AllowPartialMessage, PackAsBytes: b.PackAsBytes}
	}
	if s.Service != nil {
		host, err := bc.Service("service", *s.Service)
		if err != nil {
			return nil, err
		}
		cfg.Host = host
	}
	if f := s.FailureMode; f != nil {
		cfg.FailureMode, cfg.DenyStatus = f.Mode, f.DenyStatus
	}
	if p := s.Protocol; p != nil {
		switch {
		case p.GRPC != nil && p.HTTP != nil:
			return nil, bc.Errorf("protocol", "set grpc or http, not both")
		case p.HTTP != nil:
			h := p.HTTP
			cfg.HTTP = &extauthz.HTTP{Path: h.Path, Redirect: h.Redirect, Body: h.Body, IncludeResponseHeaders: h.IncludeResponseHeaders, AddRequestHeaders: h.AddRequestHeaders, Metadata: h.Metadata}
		case p.GRPC != nil:
			cfg.GRPC = &extauthz.GRPC{Context: p.GRPC.Context, Metadata: p.GRPC.Metadata}
		}
	}
	x, err := extauthz.New(cfg)
	if err != nil {
		return nil, bc.Wrap(mapPaths(err, func(p string) string {
			if strings.HasPrefix(p, "grpc") || strings.HasPrefix(p, "http") {
				return "protocol." + p
			}
			return p
		}))
	}
	bc.OnClose(x)
	return x, nil
}

// --- localRateLimit ---

// localRateLimitSpec is the schema's localRateLimit: a list of buckets that all apply, or
// {conditional: [...]} whose first matching bucket applies.
type localRateLimitSpec struct {
	list        []rateLimitSpec
	conditional []conditionalRateLimitSpec
}

// decodeNode reads either form, with errors at the file's paths and lines.
func (s *localRateLimitSpec) decodeNode(n *yaml.Node, path string) error {
	if n.Kind == yaml.SequenceNode {
		return decodeValue(n, reflectValue(&s.list), path)
	}
	var o struct {
		Conditional []conditionalRateLimitSpec `json:"conditional"`
	}
	if err := decodeValue(n, reflectValue(&o), path); err != nil {
		return err
	}
	s.conditional = o.Conditional
	return nil
}

// rateLimitSpec is the schema's RateLimitSpec, plus key (an extension: a CEL expression giving each
// value its own bucket).
type rateLimitSpec struct {
	MaxTokens     uint64        `json:"maxTokens"`
	TokensPerFill uint64        `json:"tokensPerFill"`
	FillInterval  time.Duration `json:"fillInterval"`
	Type          string        `json:"type"`
	Key           string        `json:"key"`
	// Limit and Unit are the newer short form (limit 50, unit seconds): see rateLimitUnit.
	Limit uint64 `json:"limit"`
	Unit  string `json:"unit"`
	// Shared names a bucket every limit of the build with that name counts against (an extension:
	// sections_ratelimit_shared.go).
	Shared string `json:"shared"`
}

// conditionalRateLimitSpec is a bucket with the CEL condition that selects it.
type conditionalRateLimitSpec struct {
	Condition     string        `json:"condition"`
	MaxTokens     uint64        `json:"maxTokens"`
	TokensPerFill uint64        `json:"tokensPerFill"`
	FillInterval  time.Duration `json:"fillInterval"`
	Type          string        `json:"type"`
	Key           string        `json:"key"`
	Limit         uint64        `json:"limit"`
	Unit          string        `json:"unit"`
}

func (r rateLimitSpec) limit(bc *BuildContext, field string) (policy.RateLimit, error) {
	if err := r.applyUnit(bc, field); err != nil { // sections_ratelimit_unit.go
		return policy.RateLimit{}, err
	}
	out := policy.RateLimit{MaxTokens: r.MaxTokens, TokensPerFill: r.TokensPerFill, FillInterval: r.FillInterval, Key: r.Key}
	switch r.Type {
	case "", "requests":
	case "tokens":
		out.Type = policy.RateLimitTokens
	default:
		return out, bc.Errorf(field+".type", "want requests or tokens, got %q", r.Type)
	}
	return out, nil
}

func buildLocalRateLimit(bc *BuildContext, s localRateLimitSpec) (agentgateway.Policy, error) {
	if slices.ContainsFunc(s.list, func(r rateLimitSpec) bool { return r.Shared != "" }) {
		return sharedLocalRateLimit(bc, s) // sections_ratelimit_shared.go
	}
	return newLocalRateLimit(bc, s)
}

func newLocalRateLimit(bc *BuildContext, s localRateLimitSpec) (agentgateway.Policy, error) {
	var cfg policy.LocalRateLimitConfig
	for i, r := range s.list {
		l, err := r.limit(bc, fmt.Sprintf("[%d]", i))
		if err != nil {
			return nil, err
		}
		cfg.Limits = append(cfg.Limits, l)
	}
	for i, c := range s.conditional {
		l, err := rateLimitSpec{MaxTokens: c.MaxTokens, TokensPerFill: c.TokensPerFill, FillInterval: c.FillInterval, Type: c.Type, Key: c.Key, Limit: c.Limit, Unit: c.Unit}.limit(bc, fmt.Sprintf("conditional[%d]", i))
		if err != nil {
			return nil, err
		}
		cfg.Conditional = append(cfg.Conditional, policy.ConditionalRateLimit{Condition: c.Condition, RateLimit: l})
	}
	p, err := policy.NewLocalRateLimit(cfg)
	if err != nil {
		// The list form is the section itself: "limits[0].maxTokens" is "[0].maxTokens" here.
		return nil, bc.Wrap(mapPaths(err, func(p string) string { return strings.TrimPrefix(p, "limits") }))
	}
	return p, nil
}

// --- remoteRateLimit ---

// remoteRateLimitSpec is the schema's RemoteRateLimit. Only a host, or a service resolved to one, is
// supported as the target; policies are not supported.
type remoteRateLimitSpec struct {
	Host        string           `json:"host"`
	Service     *ServiceRef      `json:"service"`
	Backend     string           `json:"backend"`
	Domain      string           `json:"domain"`
	Descriptors []descriptorSpec `json:"descriptors"`
	FailureMode string           `json:"failureMode"`
	Timeout     time.Duration    `json:"timeout"`
	Policies    any              `json:"policies"`
}

// descriptorSpec is the schema's DescriptorEntry; only the requests type is supported.
type descriptorSpec struct {
	Entries []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"entries"`
	Type          string `json:"type"`
	Cost          string `json:"cost"`
	LimitOverride string `json:"limitOverride"`
}

func buildRemoteRateLimit(bc *BuildContext, s remoteRateLimitSpec) (agentgateway.Policy, error) {
	switch {
	case s.Policies != nil:
		return nil, bc.Errorf("policies", "not supported")
	case s.Backend != "":
		return nil, bc.Errorf("host", "only a host reference is supported here")
	}
	cfg := remoteratelimit.Config{Host: s.Host, Domain: s.Domain, Timeout: s.Timeout}
	if s.Service != nil {
		host, err := bc.Service("service", *s.Service)
		if err != nil {
			return nil, err
		}
		cfg.Host = host
	}
	switch s.FailureMode {
	case "", "failClosed", "FailClosed":
	case "failOpen", "FailOpen":
		cfg.FailureMode = agentgateway.FailOpen
	default:
		return nil, bc.Errorf("failureMode", "want failClosed or failOpen, got %q", s.FailureMode)
	}
	for i, d := range s.Descriptors {
		switch {
		case d.Type != "" && d.Type != "requests":
			return nil, bc.Errorf(fmt.Sprintf("descriptors[%d].type", i), "only requests is supported")
		case d.LimitOverride != "":
			return nil, bc.Errorf(fmt.Sprintf("descriptors[%d].limitOverride", i), "not supported")
		}
		gd := remoteratelimit.Descriptor{Cost: d.Cost}
		for _, e := range d.Entries {
			gd.Entries = append(gd.Entries, remoteratelimit.DescriptorKV{Key: e.Key, Value: e.Value})
		}
		cfg.Descriptors = append(cfg.Descriptors, gd)
	}
	rl, err := remoteratelimit.New(cfg)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	bc.OnClose(rl)
	return rl, nil
}

// --- timeout, retry ---

// timeoutSpec is the schema's TimeoutPolicy.
type timeoutSpec struct {
	RequestTimeout        time.Duration `json:"requestTimeout"`
	BackendRequestTimeout time.Duration `json:"backendRequestTimeout"`
}

// retrySpec is the schema's RetryPolicy, plus budget and maxBufferBytes (extensions).
type retrySpec struct {
	Attempts     int           `json:"attempts"`
	Backoff      time.Duration `json:"backoff"`
	Codes        []int         `json:"codes"`
	Precondition string        `json:"precondition"`
	Condition    string        `json:"condition"`
	Budget       *struct {
		Ratio        float64 `json:"ratio"`
		MinPerSecond float64 `json:"minPerSecond"`
	} `json:"budget"`
	MaxBufferBytes int64 `json:"maxBufferBytes"`
}

func buildRetry(bc *BuildContext, s retrySpec) (agentgateway.Policy, error) {
	if s.Attempts == 0 {
		s.Attempts = 1 // the schema's default: the original request only, unless attempts says more
	}
	cfg := policy.RetryConfig{Attempts: s.Attempts, Backoff: s.Backoff, Codes: s.Codes, Precondition: s.Precondition, Condition: s.Condition, MaxBufferBytes: cmp.Or(s.MaxBufferBytes, bc.MaxBufferSize)}
	if b := s.Budget; b != nil {
		cfg.Budget = &policy.RetryBudget{Ratio: b.Ratio, MinPerSecond: b.MinPerSecond}
	}
	return wrapPolicy(bc)(policy.NewRetry(cfg))
}

// --- requestMirror ---

// MirrorSpec is the schema's RequestMirror: the backend reference and the fraction mirrored.
type MirrorSpec struct {
	Backend    BackendRef `json:"backend"`
	Percentage float64    `json:"percentage"`
}

func buildMirror(bc *BuildContext, s MirrorSpec) (agentgateway.Policy, error) {
	target, err := bc.At("backend").Backend(s.Backend)
	if err != nil {
		return nil, err
	}
	m, err := policy.NewMirror(policy.MirrorConfig{Percentage: s.Percentage, Logger: bc.Logger}, target)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	bc.OnClose(m)
	return m, nil
}

// --- transformations ---

// transformationSpec is the schema's LocalTransformationConfig.
type transformationSpec struct {
	Request  *transformSpec `json:"request"`
	Response *transformSpec `json:"response"`
}

// transformSpec is the schema's LocalTransform, plus jsonSet, jsonRemove and maxBodyBytes
// (extensions); metadata is not supported.
type transformSpec struct {
	Set          map[string]string `json:"set"`
	Add          map[string]string `json:"add"`
	Remove       []string          `json:"remove"`
	Body         string            `json:"body"`
	JSONSet      map[string]string `json:"jsonSet"`
	JSONRemove   []string          `json:"jsonRemove"`
	Replace      string            `json:"replace"`
	Metadata     map[string]string `json:"metadata"`
	MaxBodyBytes int64             `json:"maxBodyBytes"`
}

func (t *transformSpec) transform(bc *BuildContext, field string) (*policy.Transform, error) {
	if t == nil {
		return nil, nil
	}
	if len(t.Metadata) > 0 {
		return nil, bc.Errorf(field+".metadata", "not supported")
	}
	return &policy.Transform{Set: t.Set, Add: t.Add, Remove: t.Remove, Body: t.Body, JSONSet: t.JSONSet, JSONRemove: t.JSONRemove, Replace: t.Replace, MaxBodyBytes: cmp.Or(t.MaxBodyBytes, bc.MaxBufferSize)}, nil
}

func buildTransformations(bc *BuildContext, s transformationSpec) (agentgateway.Policy, error) {
	req, err := s.Request.transform(bc, "request")
	if err != nil {
		return nil, err
	}
	resp, err := s.Response.transform(bc, "response")
	if err != nil {
		return nil, err
	}
	return wrapPolicy(bc)(policy.NewTransformation(policy.TransformationConfig{Request: req, Response: resp}))
}

// --- backendTLS ---

// backendTLSSpec is the schema's LocalBackendTLS: cert, key and root are file names. keyExchangeGroups
// and spiffe are not supported.
type backendTLSSpec struct {
	Cert              string   `json:"cert"`
	Key               string   `json:"key"`
	Root              string   `json:"root"`
	Hostname          string   `json:"hostname"`
	Insecure          bool     `json:"insecure"`
	InsecureHost      bool     `json:"insecureHost"`
	ALPN              []string `json:"alpn"`
	SubjectAltNames   []string `json:"subjectAltNames"`
	KeyExchangeGroups []string `json:"keyExchangeGroups"`
	SPIFFE            any      `json:"spiffe"`
}

func buildBackendTLS(bc *BuildContext, s backendTLSSpec) (agentgateway.Policy, error) {
	switch {
	case len(s.KeyExchangeGroups) > 0:
		return nil, bc.Errorf("keyExchangeGroups", "not supported")
	case s.SPIFFE != nil:
		return nil, bc.Errorf("spiffe", "not supported")
	case (s.Cert == "") != (s.Key == ""):
		return nil, bc.Errorf("cert", "cert and key must be set together")
	}
	cfg := policy.BackendTLSConfig{Hostname: s.Hostname, Insecure: s.Insecure, InsecureHost: s.InsecureHost, ALPN: s.ALPN, SubjectAltNames: s.SubjectAltNames, Logger: bc.Logger}
	for _, f := range []struct {
		field, name string
		dst         *[]byte
	}{{"cert", s.Cert, &cfg.Cert}, {"key", s.Key, &cfg.Key}, {"root", s.Root, &cfg.Root}} {
		if f.name == "" {
			continue
		}
		if inlinePEM(f.name) { // tls_inline.go: a control plane's document carries the PEM itself
			*f.dst = []byte(f.name)
			continue
		}
		b, err := readLimited(bc.File(f.name), maxPEM)
		if err != nil {
			return nil, bc.Errorf(f.field, "%w", err)
		}
		*f.dst = b
	}
	b, err := policy.NewBackendTLS(cfg)
	if err != nil {
		var ce *agentgateway.ConfigError
		if errors.As(err, &ce) && ce.Path == "root" { // name the file the bytes came from
			err = &agentgateway.ConfigError{Path: ce.Path, Err: fmt.Errorf("%w in %s", ce.Err, pemName(s.Root))}
		}
		return nil, bc.Wrap(err)
	}
	if d := bc.res.dial; d != nil { // File.SetDialer: a TLS backend connects through it too
		b.Transport().DialContext = d
	}
	bc.OnClose(b)
	return b, nil
}

// --- backendAuth ---

// backendAuthSpec is the schema's BackendAuth: exactly one of passthrough, key (or the key
// shorthand), gcp, aws, azure, jwtSign, oauthTokenExchange and crossAppAccess, plus optional
// credentials (copilot and azure developerImplicit are not supported). The cloud kinds are packages of their own, so that package
// policy links no cloud SDK.
type backendAuthSpec struct {
	Passthrough *struct {
		Location *locationSpec `json:"location"`
	} `json:"passthrough"`
	Key *keyAuthSpec `json:"key"`
	GCP *struct {
		Type       string        `json:"type"`
		Audience   string        `json:"audience"`
		Credential *fileOrInline `json:"credential"`
	} `json:"gcp"`
	AWS *struct {
		AccessKeyID     string          `json:"accessKeyId"`
		SecretAccessKey string          `json:"secretAccessKey"`
		SessionToken    string          `json:"sessionToken"`
		Region          string          `json:"region"`
		ServiceName     string          `json:"serviceName"`
		AssumeRole      *assumeRoleSpec `json:"assumeRole"`
	} `json:"aws"`
	Azure              *azureAuthSpec      `json:"azure"`
	JWTSign            *jwtSignSpec        `json:"jwtSign"`
	OAuthTokenExchange *tokenExchangeSpec  `json:"oauthTokenExchange"`
	OAuth              *oauthSpec          `json:"oauth"` // served as oauthTokenExchange (sections_oauth.go)
	CrossAppAccess     *crossAppAccessSpec `json:"crossAppAccess"`
	Credentials        []credentialSpec    `json:"credentials"`
	// XAA is an older name of CrossAppAccess (sections_crossapp.go).
	XAA *crossAppAccessSpec `json:"xaa"`
}

func buildBackendAuth(bc *BuildContext, s backendAuthSpec) (agentgateway.Policy, error) {
	if err := s.olderCrossAppNames(bc); err != nil {
		return nil, err
	}
	if err := s.oauthShape(bc); err != nil {
		return nil, err
	}
	n := 0
	for _, set := range []bool{s.Passthrough != nil, s.Key != nil, s.GCP != nil, s.AWS != nil, s.Azure != nil, s.JWTSign != nil, s.OAuthTokenExchange != nil, s.CrossAppAccess != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0 && len(s.Credentials) > 0:
		return withCredentials(bc, nil, s.Credentials)
	case n != 1:
		return nil, bc.Errorf("", "set exactly one of passthrough, key, gcp, aws, azure, jwtSign, oauthTokenExchange, crossAppAccess")
	}
	p, err := buildBackendAuthKind(bc, s)
	if err != nil {
		return nil, err
	}
	return withCredentials(bc, p, s.Credentials)
}

func buildBackendAuthKind(bc *BuildContext, s backendAuthSpec) (agentgateway.Policy, error) {
	if p, ok, err := buildTokenAuth(bc, s); ok {
		return p, err
	}
	switch {
	case s.Azure != nil:
		return buildAzureAuth(bc, s.Azure)
	case s.GCP != nil:
		g := s.GCP
		cfg := gcpauth.Config{Audience: g.Audience}
		switch g.Type {
		case "", "accessToken":
		case "idToken":
			cfg.Type = gcpauth.IDToken
		default:
			return nil, bc.Errorf("gcp.type", "want accessToken or idToken, got %q", g.Type)
		}
		if g.Credential != nil {
			if g.Credential.File != "" {
				b, err := bc.ReadFile("gcp.credential", g.Credential.File)
				if err != nil {
					return nil, err
				}
				cfg.Credential = b
			} else {
				cfg.Credential = []byte(g.Credential.Inline)
			}
		}
		p, err := gcpauth.New(cfg)
		if err != nil {
			return nil, bc.At("gcp").Wrap(err)
		}
		return p, nil
	case s.AWS != nil:
		a := s.AWS
		if a.AssumeRole != nil {
			return buildAssumeRole(bc, s)
		}
		p, err := awsauth.New(awsauth.Config{AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey, SessionToken: a.SessionToken, Region: a.Region, ServiceName: a.ServiceName})
		if err != nil {
			return nil, bc.At("aws").Wrap(err)
		}
		return p, nil
	case s.Passthrough != nil:
		loc, err := s.Passthrough.Location.location(bc, "passthrough.location")
		if err != nil {
			return nil, err
		}
		p, err := policy.NewBackendAuth(policy.BackendAuthConfig{Passthrough: &policy.PassthroughAuth{Location: loc}})
		if err != nil {
			return nil, bc.Wrap(mapPaths(err, locationPath))
		}
		return p, nil
	}
	loc, err := s.Key.Location.location(bc, "key.location")
	if err != nil {
		return nil, err
	}
	value, err := s.Key.Value.load(bc, "key.value")
	if err != nil {
		return nil, err
	}
	p, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: string(value), Location: loc}})
	if err != nil {
		return nil, bc.Wrap(mapPaths(err, locationPath))
	}
	return p, nil
}

// csrfSpec is the schema's Csrf.
type csrfSpec struct {
	AdditionalOrigins []string `json:"additionalOrigins"`
}

func buildCSRF(bc *BuildContext, s csrfSpec) (agentgateway.Policy, error) {
	return wrapPolicy(bc)(policy.NewCSRF(policy.CSRFConfig{AdditionalOrigins: s.AdditionalOrigins}))
}

// delaySpec is the schema's DelayPolicy.
type delaySpec struct {
	Duration string `json:"duration"`
}

func buildDelay(bc *BuildContext, s delaySpec) (agentgateway.Policy, error) {
	return wrapPolicy(bc)(policy.NewDelay(policy.DelayConfig{Duration: s.Duration}))
}

// bufferSpec is the schema's Buffer.
type bufferSpec struct {
	Request  *bufferBodySpec `json:"request"`
	Response *bufferBodySpec `json:"response"`
}

// bufferBodySpec is the schema's BufferBody.
type bufferBodySpec struct {
	MaxBytes    int64  `json:"maxBytes"`
	FailureMode string `json:"failureMode"`
}

func (s *bufferBodySpec) body(bc *BuildContext, path string) (*policy.BufferBody, error) {
	if s == nil {
		return nil, nil
	}
	b := &policy.BufferBody{MaxBytes: cmp.Or(s.MaxBytes, bc.MaxBufferSize)}
	switch s.FailureMode {
	case "", "failClosed":
	case "failOpen":
		b.FailOpen = true
	default:
		return nil, bc.Errorf(path+".failureMode", "want failClosed or failOpen, not %q", s.FailureMode)
	}
	return b, nil
}

func buildBuffer(bc *BuildContext, s bufferSpec) (agentgateway.Policy, error) {
	req, err := s.Request.body(bc, "request")
	if err != nil {
		return nil, err
	}
	resp, err := s.Response.body(bc, "response")
	if err != nil {
		return nil, err
	}
	if req == nil && resp == nil {
		return nil, bc.Errorf("", "buffer needs request, response or both")
	}
	return wrapPolicy(bc)(policy.NewBuffer(policy.BufferConfig{Request: req, Response: resp}))
}

// sessionAffinitySpec is the schema's SessionAffinityPolicy (a backend policy; on a route it also
// keeps a key on one of the route's weighted backends).
type sessionAffinitySpec struct {
	Source string `json:"source"`
}

func buildSessionAffinity(bc *BuildContext, s sessionAffinitySpec) (agentgateway.Policy, error) {
	return wrapPolicy(bc)(policy.NewSessionAffinity(policy.SessionAffinityConfig{Source: s.Source}))
}
