package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// Support says how this gateway serves a key of agentgateway's schema.
type Support int

// The three answers of the compatibility table.
const (
	Supported Support = iota
	SupportedWithDifferences
	NotSupported
)

func (s Support) String() string {
	switch s {
	case Supported:
		return "supported"
	case SupportedWithDifferences:
		return "supported with differences"
	}
	return "not supported"
}

// CompatRow is one key of agentgateway's schema (config.json) and how it is served here.
type CompatRow struct {
	// Key names the key by where it is in the schema: "<section>.<key>", the section being one of
	// "" (top level), config, frontendPolicies, binds, listener (binds[].listeners[]), gateways,
	// gatewayListener (gateways.*.listeners[]), tls (a listener's or gateway's tls), route (a route,
	// listed or top-level), policies (a route's), backend (a route backend's kind), backendPolicies,
	// backends (top-level named backends), mcp, llm, services, workloads.
	Key     string
	Support Support
	// Note says what differs (SupportedWithDifferences) or why it is not supported; refusals quote it.
	Note string
}

// Reasons shared by many rows.
const (
	whyMesh    = "mesh and control-plane settings (xDS, SPIFFE, HBONE, Istio identities): this gateway is configured by its file, Go or Gateway API"
	whyStore   = "no database or model catalog storage"
	whyLabel   = "accepted as a label; it changes nothing here"
	whyUI      = "there is no web UI; the admin listener serves /config_dump, /stats and /logging"
	whyExtProc = "Envoy ext_proc per request: request headers, the request body (buffered: fullDuplexStreamed sends it whole as one chunk; bufferedPartial up to maxBufferSize) and response headers are sent, with header mutations, body replacement, immediate responses, metadataContext and attributes; response bodies and trailers are not sent, mode overrides are ignored; host or service only, policies: backendTLS only"
)

// Compatibility is the compatibility table: one row per key of agentgateway's schema. Refusals of keys
// marked NotSupported quote the row's note (see refuse), and docs/compatibility.md is generated from
// it (TestCompatibilityDoc), so the documentation, `--validate` and startup say the same thing.
var Compatibility = []CompatRow{
	// top level
	{"config", Supported, ""},
	{"binds", Supported, ""},
	{"frontendPolicies", Supported, ""},
	{"policies", SupportedWithDifferences, "route targets (merged under the route's own policies) and gateway targets in the gateway phase (gateway or listener policies); backend and listenerSet targets and route-phase gateway targets are refused"},
	{"workloads", SupportedWithDifferences, "static endpoints of `services`: workloadIps at the target port; healthy ones only; mesh fields refused"},
	{"services", SupportedWithDifferences, "`service:` backends naming namespace/hostname use the file's workloads (HTTP/2 for appProtocols Http2/Grpc); other names resolve by DNS"},
	{"backends", Supported, ""},
	{"routeGroups", SupportedWithDifferences, "expanded when the file is built: each child route takes the parent's matches intersected with its own (regex paths cannot be combined), its hostnames narrowed, and its policies over the parent's key by key"},
	{"gateways", Supported, ""},
	{"routes", Supported, ""},
	{"tcpRoutes", Supported, ""},
	{"llm", Supported, ""},
	{"mcp", Supported, ""},
	{"ui", NotSupported, whyUI},

	// config (RawConfig)
	{"config.enableIpv6", NotSupported, "DNS resolution uses the system resolver for both families"},
	{"config.dns", NotSupported, "DNS resolution uses the system resolver"},
	{"config.localXdsPath", NotSupported, whyMesh},
	{"config.modelCatalog", Supported, ""},
	{"config.database", NotSupported, whyStore},
	{"config.storage", NotSupported, whyStore},
	{"config.caAddress", NotSupported, whyMesh},
	{"config.caAuthToken", NotSupported, whyMesh},
	{"config.xdsAddress", SupportedWithDifferences, "from an xDS control plane serving this gateway's own resource types (package xds, `--xds-serve`), not agentgateway's protos"},
	{"config.xdsAuthToken", SupportedWithDifferences, "from an xDS control plane serving this gateway's own resource types (package xds, `--xds-serve`), not agentgateway's protos"},
	{"config.spiffe", NotSupported, whyMesh},
	{"config.namespace", SupportedWithDifferences, "from an xDS control plane serving this gateway's own resource types (package xds, `--xds-serve`), not agentgateway's protos"},
	{"config.gateway", SupportedWithDifferences, "from an xDS control plane serving this gateway's own resource types (package xds, `--xds-serve`), not agentgateway's protos"},
	{"config.trustDomain", NotSupported, whyMesh},
	{"config.additionalTrustDomains", NotSupported, whyMesh},
	{"config.skipValidateTrustDomain", NotSupported, whyMesh},
	{"config.serviceAccount", NotSupported, whyMesh},
	{"config.clusterId", SupportedWithDifferences, "from an xDS control plane serving this gateway's own resource types (package xds, `--xds-serve`), not agentgateway's protos"},
	{"config.network", NotSupported, whyMesh},
	{"config.adminAddr", Supported, ""},
	{"config.standardAttributes", NotSupported, "telemetry attribute sets are fixed (OpenTelemetry semantic conventions)"},
	{"config.statsAddr", Supported, ""},
	{"config.histograms", SupportedWithDifferences, "classic or native; not both"},
	{"config.readinessAddr", Supported, ""},
	{"config.session", Supported, ""},
	{"config.mcp", Supported, ""},
	{"config.sensitiveHeaders", Supported, ""},
	{"config.customFunctions", NotSupported, "CEL functions are the built-in set"},
	{"config.connectionTerminationDeadline", Supported, ""},
	{"config.connectionMinTerminationDeadline", NotSupported, "draining waits up to connectionTerminationDeadline"},
	{"config.workerThreads", NotSupported, "the Go runtime schedules (GOMAXPROCS)"},
	{"config.tracing", Supported, ""},
	{"config.logging", SupportedWithDifferences, "no per-module log levels, no logging.database; otlp exports the access log's records as OTLP logs (host, protocol grpc/http, path; host defaults to the tracing collector with its headers; no service, backend, policies, or otlp-specific filter/fields)"},
	{"config.metrics", Supported, ""},
	{"config.backend", NotSupported, "upstream connection tuning is per backend (Go API)"},
	{"config.hbone", NotSupported, whyMesh},

	// frontendPolicies
	{"frontendPolicies.http", SupportedWithDifferences, "maxBufferSize is the default bound of retry's replay buffer, buffer, transformations, extAuthz's includeRequestBody and CEL request.body (2 MiB when unset); http1HeaderCase is refused: agentgateway's meaning is the case of HTTP/1 response header names (lowercase by default, or preserve), but net/http writes the names it adds itself (Date, Content-Length, Transfer-Encoding) in canonical case and policies look names up canonically, so neither lowercase nor preserve can be honoured for every header"},
	{"frontendPolicies.tls", SupportedWithDifferences, "read at start; TLS 1.3 suites are always on (Go); a listener's own versions, suites and groups win"},
	{"frontendPolicies.tcp", SupportedWithDifferences, "keepalives; read at start"},
	{"frontendPolicies.networkAuthorization", SupportedWithDifferences, "read at start; evaluated once per connection (and per connection a CONNECT tunnel re-enters)"},
	{"frontendPolicies.networkExtAuthz", SupportedWithDifferences, "read at start; an Envoy ext_authz gRPC Check per connection (and per connection a CONNECT tunnel re-enters), after networkAuthorization, with source, destination, SNI (or CONNECT host) and grpc.context; a denial closes the connection; failureMode allow or deny; host only (no service, backend or policies), no http protocol, request headers/body, metadata or cache (a connection has no request)"},
	{"frontendPolicies.proxy", SupportedWithDifferences, "as proxyProtocol"},
	{"frontendPolicies.proxyProtocol", SupportedWithDifferences, "read at start"},
	{"frontendPolicies.connect", SupportedWithDifferences, "read at start"},
	{"frontendPolicies.accessLog", SupportedWithDifferences, "no database sink; otlp as config.logging.otlp (one of the two); format (text, json: the access log lines' own format, read at start) and fields.add/fields.remove (merged with add/remove) are accepted; the CEL backend variable has name only"},
	{"frontendPolicies.logging", SupportedWithDifferences, "as accessLog"},
	{"frontendPolicies.tracing", SupportedWithDifferences, "no service, backend, policies or filter"},

	// binds[]
	{"binds.port", Supported, ""},
	{"binds.listeners", Supported, ""},
	{"binds.tunnelProtocol", SupportedWithDifferences, "direct and connect (a CONNECT target no listener or route would take is refused with 403 at CONNECT time); no HBONE or proxy tunnels"},
	{"binds.mode", SupportedWithDifferences, "standard and internal (reached through CONNECT); no internal wildcard binds"},

	// binds[].listeners[]
	{"listener.name", Supported, ""},
	{"listener.namespace", SupportedWithDifferences, whyLabel},
	{"listener.hostname", Supported, ""},
	{"listener.protocol", SupportedWithDifferences, "HTTP, HTTPS, TCP and TLS; no HBONE"},
	{"listener.tls", SupportedWithDifferences, "see the tls rows"},
	{"listener.routes", Supported, ""},
	{"listener.tcpRoutes", Supported, ""},
	{"listener.policies", SupportedWithDifferences, "run for every route of the listener before the route's policies; a request no route matches gets 404 without them"},

	// tls (listeners and gateways)
	{"tls.mode", Supported, ""},
	{"tls.cert", SupportedWithDifferences, "a file, or the PEM itself (a value holding \"-----BEGIN \"); `additionalCertificates: [{cert, key}]` (an extension, for a Gateway API listener's several certificateRefs) adds pairs served by SNI"},
	{"tls.key", SupportedWithDifferences, "a file, or the PEM itself (a value holding \"-----BEGIN \")"},
	{"tls.root", SupportedWithDifferences, "enforced as the schema says unless `mtlsMode: allowInsecureFallback` (an extension, for Gateway API's frontend validation mode): then a client certificate is asked for, not required"},
	{"tls.spiffe", NotSupported, whyMesh},
	{"tls.cipherSuites", Supported, ""},
	{"tls.minTLSVersion", Supported, ""},
	{"tls.minTlsVersion", Supported, ""},
	{"tls.maxTLSVersion", Supported, ""},
	{"tls.maxTlsVersion", Supported, ""},
	{"tls.keyExchangeGroups", Supported, ""},

	// gateways.<name>
	{"gateways.port", Supported, ""},
	{"gateways.protocol", SupportedWithDifferences, "HTTP, HTTPS, TCP and TLS (passed through without tls, terminated with it); no HBONE"},
	{"gateways.listeners", Supported, ""},
	{"gateways.tls", SupportedWithDifferences, "cert, key and root"},
	{"gateways.oidc", SupportedWithDifferences, "as the oidc route policy, for every route attached to the gateway"},
	{"gateways.jwtAuth", SupportedWithDifferences, "for every route attached to the gateway, before the route's policies"},
	{"gateways.authorization", SupportedWithDifferences, "for every route attached to the gateway, before the route's policies"},
	{"gateways.extAuthz", SupportedWithDifferences, "for every route attached to the gateway, before the route's policies"},
	{"gateways.extProc", SupportedWithDifferences, "as the extProc route policy, for every route attached to the gateway, before the route's policies"},
	{"gateways.cors", SupportedWithDifferences, "for every route attached to the gateway, before the route's policies"},
	{"gateways.transformations", SupportedWithDifferences, "for every route attached to the gateway, before the route's policies"},
	{"gateways.basicAuth", SupportedWithDifferences, "for every route attached to the gateway, before the route's policies"},
	{"gateways.apiKey", SupportedWithDifferences, "for every route attached to the gateway, before the route's policies"},

	// gateways.<name>.listeners[]
	{"gatewayListener.name", Supported, ""},
	{"gatewayListener.hostname", Supported, ""},
	{"gatewayListener.protocol", SupportedWithDifferences, "as gateways.protocol"},
	{"gatewayListener.tls", SupportedWithDifferences, "cert, key and root"},
	{"gatewayListener.oidc", SupportedWithDifferences, "as gateways.oidc"},
	{"gatewayListener.jwtAuth", SupportedWithDifferences, "as gateways.jwtAuth"},
	{"gatewayListener.authorization", SupportedWithDifferences, "as gateways.authorization"},
	{"gatewayListener.extAuthz", SupportedWithDifferences, "as gateways.extAuthz"},
	{"gatewayListener.extProc", SupportedWithDifferences, "as gateways.extProc"},
	{"gatewayListener.cors", SupportedWithDifferences, "as gateways.cors"},
	{"gatewayListener.transformations", SupportedWithDifferences, "as gateways.transformations"},
	{"gatewayListener.basicAuth", SupportedWithDifferences, "as gateways.basicAuth"},
	{"gatewayListener.apiKey", SupportedWithDifferences, "as gateways.apiKey"},

	// routes (binds[].listeners[].routes[] and top-level routes[])
	{"route.gateways", Supported, ""},
	{"route.name", Supported, ""},
	{"route.namespace", SupportedWithDifferences, whyLabel},
	{"route.ruleName", SupportedWithDifferences, whyLabel},
	{"route.hostnames", Supported, ""},
	{"route.matches", Supported, ""},
	{"route.policies", Supported, ""},
	{"route.backends", Supported, ""},

	// route policies
	{"policies.requestHeaderModifier", Supported, ""},
	{"policies.responseHeaderModifier", Supported, ""},
	{"policies.requestRedirect", Supported, ""},
	{"policies.urlRewrite", SupportedWithDifferences, "authority full or host only"},
	{"policies.requestMirror", SupportedWithDifferences, "also a list of mirrors (an extension), each getting its own copy"},
	{"policies.directResponse", Supported, ""},
	{"policies.cors", Supported, ""},
	{"policies.mcpAuthorization", Supported, ""},
	{"policies.mcpGuardrails", SupportedWithDifferences, "processors of kind cel and expression run in process; kind remote (an external MCP policy server) is refused"},
	{"policies.authorization", Supported, ""},
	{"policies.mcpAuthentication", SupportedWithDifferences, "the gateway is the issuer of adapted metadata; relaySigningKey (newer than the schema) is refused: with it agentgateway terminates Keycloak's authorization-code flow for one static clientId and forwards codes to any registered client's redirect_uri, the confused deputy the MCP security guidance forbids without per-client consent"},
	{"policies.a2a", Supported, ""},
	{"policies.ai", SupportedWithDifferences, "`models` (declared, listed by GET /v1/models); guards regex, webhook (also messageFormat raw, request side), openAIModeration, promptInjection (requests), bedrockGuardrails, googleModelArmor and azureContentSafety (their policies: backendAuth only; endpoints from AWS_ENDPOINT_URL_BEDROCK_RUNTIME and CLOUDSDK_API_ENDPOINT_OVERRIDES_MODELARMOR; detectJailbreak on requests only); routes: completions, messages, responses, embeddings, models, anthropicTokenCount, passthrough and detect, also in agentgateway's PascalCase spellings (Models, Completions, ...) (realtime, rerank, generateContent, geminiCountTokens refused), a path no suffix matches keeps its default API, and a route policy's routes apply after the route's policies ran on the default classification"},
	{"policies.backendTLS", SupportedWithDifferences, "no keyExchangeGroups or spiffe"},
	{"policies.backendTunnel", SupportedWithDifferences, "on routes (listed, top-level and in routeGroups): applies to the route's host and service backends that set none of their own; refused for backend references and kinds that do not dial (mcp, ai, dynamic), and on gateway or targeted policies"},
	{"policies.backendAuth", SupportedWithDifferences, "no copilot or azure developerImplicit; oauth (the published oauth-token-exchange examples' shape: tokenEndpoint, tokenEndpointPath) is served as oauthTokenExchange, and Google STS audiences get requested_token_type access_token; token endpoints by host, service or a named host backend (its backendTLS applies; no other policies), not with inline policies except backendTLS {} on crossAppAccess; actorToken.enforceMayAct checks the subject JWT's may_act claims against the actor JWT's (unverified; the token endpoint verifies) and answers 403"},
	{"policies.localRateLimit", SupportedWithDifferences, "a limit may name a `shared` bucket (an extension): every limit of the file with that name counts against one bucket, wherever its policy is attached"},
	{"policies.remoteRateLimit", Supported, ""},
	{"policies.mcpRemoteRateLimit", SupportedWithDifferences, "remoteRateLimit's shape, counting MCP calls only (after the route's authorization), descriptors over mcp.* (one with an entry that is empty for the call, as mcp.tool.name of a list, is skipped); refusals are JSON-RPC errors: 429 with the call's id and the service's headers, 500 when the service fails (failClosed); requests type only"},
	{"policies.jwtAuth", Supported, ""},
	{"policies.oidc", SupportedWithDifferences, "fetch/XHR requests get 401; sessions sealed with a key derived from config.session.key, else from the client secret, bound to issuer and clientId: shared by replicas and restarts (TestOIDCSessionKeyFromYAML)"},
	{"policies.oauth2", SupportedWithDifferences, "served by the oidc policy (TestOAuth2FromYAML, TestOAuth2RefreshFromYAML): authorization code + PKCE login, the ID token verified and its claims as jwt.*; passAccessToken forwards Authorization: Bearer <access token>; when the provider issues a refresh token it is kept in the session, whose cookie then lives refreshableCookieMaxAgeSeconds (default 7 days), and an access token that has expired (or expires within 10s) is refreshed at the token endpoint, once per session however many requests carry it, rotated refresh tokens replacing the old; a failed refresh drops the session (login again); without a refresh token the session ends with the access token (passAccessToken) or lasts 1h; requests without a session whose Accept lacks text/html get 401 with WWW-Authenticate: Bearer realm=\"<issuer>\", scope=\"<scopes>\"; signOutPath clears the session (200, no provider logout); passThroughMatchers and denyRedirectMatchers as path prefixes; an ID token is required (openid is always requested); the session is one cookie of at most 4000 bytes (agentgateway splits larger ones over several cookies): the ID token, then the refresh token, are left out of a session that would not fit; sessions sealed with a key derived (HKDF-SHA256) from config.session.key, else from the client secret, as agentgateway, bound to issuer and clientId: replicas and restarts accept each other's sessions, another secret or client refuses them (TestOAuth2SessionKeyFromYAML); route level only, as agentgateway (not a gateway policy); autoDetectRedirectUri and trustedProxyCidrs refused: set redirectUri"},
	{"policies.basicAuth", Supported, "htpasswd hashes bcrypt, $apr1$ (MD5) and {SHA}; also `htpasswdFile: path`, the earlier spelling of `htpasswd: {file: path}`"},
	{"policies.apiKey", Supported, ""},
	{"policies.extAuthz", Supported, "also the spellings of agentgateway's trust-scoring example: `port` beside a bare host name, and `headers` for includeRequestHeaders"},
	{"policies.extProc", SupportedWithDifferences, whyExtProc},
	{"policies.transformations", Supported, ""},
	{"policies.csrf", Supported, ""},
	{"policies.buffer", Supported, ""},
	{"policies.timeout", Supported, ""},
	{"policies.retry", Supported, ""},
	{"policies.delay", SupportedWithDifferences, "at most 5 minutes"},

	// route backends: weight, policies and the kinds
	{"backend.weight", Supported, ""},
	{"backend.policies", Supported, ""},
	{"backend.service", Supported, ""},
	{"backend.backend", Supported, ""},
	{"backend.host", Supported, ""},
	{"backend.http", SupportedWithDifferences, "`http: {hostname, port}` (agentgateway's basic-authentication example) is the host backend hostname:port"},
	{"backend.internal", NotSupported, "the admin service is not routable from listeners"},
	{"backend.dynamic", SupportedWithDifferences, "target is a CEL expression giving host:port per request; loopback, private and link-local targets are refused (502) unless allowPrivate is set"},
	{"backend.mcp", Supported, "a target may also give host, port and path beside its name (agentgateway's trust-scoring example): the streamable HTTP target mcp: {host, port, path}"},
	{"backend.ai", Supported, ""},
	{"backend.aws", SupportedWithDifferences, "agentCore; a route's backendAuth aws signs when it names serviceName bedrock-agentcore"},
	{"backend.routeGroup", SupportedWithDifferences, "the route's only backend, without policies (see routeGroups)"},
	{"backend.invalid", NotSupported, "a control plane's placeholder for a backend that failed to resolve; meaningless in a file"},

	// backend policies
	{"backendPolicies.requestHeaderModifier", Supported, ""},
	{"backendPolicies.transformations", Supported, ""},
	{"backendPolicies.backendTLS", SupportedWithDifferences, "as policies.backendTLS"},
	{"backendPolicies.backendAuth", SupportedWithDifferences, "as policies.backendAuth"},
	{"backendPolicies.http", SupportedWithDifferences, "on host and service backends (not MCP targets or LLM providers) (a named backend's definition, not a reference): version HTTP/1.1 or HTTP/2 (h2c to plain-HTTP endpoints, ALPN h2 over TLS) and requestTimeout (each request to the backend, retry attempts each; 504 before the response starts); no maxConnectionDuration"},
	{"backendPolicies.tcp", SupportedWithDifferences, "on host and service backends (not MCP targets or LLM providers) (a named backend's definition, not a reference): connectTimeout and keepalives (enabled, time, interval, retries; agentgateway's defaults 3m, 3m, 9)"},
	{"backendPolicies.backendTunnel", SupportedWithDifferences, "on host and service backends (net/http's client then connects, through the proxy's CONNECT) and tcpRoutes backends; no policies for the proxy"},
	{"backendPolicies.responseHeaderModifier", Supported, ""},
	{"backendPolicies.requestRedirect", Supported, ""},
	{"backendPolicies.health", SupportedWithDifferences, "passive outlier detection on the endpoints of host and service backends: unhealthyExpression (CEL on response.code/headers; default 5xx), eviction.consecutiveFailures, healthThreshold (per-endpoint health score, a moving average weighing the newest outcome 0.3), restoreHealth and duration; repeated ejections double the duration up to 5 minutes (agentgateway multiplies it by the ejection count); active (newer than the schema) is refused here: served on llm.models entries only (agentgateway probes ai route backends too, and ignores it on host and service backends)"},
	{"backendPolicies.extAuthz", Supported, ""},
	{"backendPolicies.authorization", Supported, ""},
	{"backendPolicies.mcpAuthorization", Supported, ""},
	{"backendPolicies.mcpGuardrails", SupportedWithDifferences, "processors of kind cel and expression run in process; kind remote (an external MCP policy server) is refused"},
	{"backendPolicies.a2a", Supported, ""},
	{"backendPolicies.inferenceRouting", SupportedWithDifferences, "on service backends of the file's services, destinationMode validated or passthrough (the picker's ip:port trusted without the service's endpoints; IP literals only); failureMode failClosed (503 when the picker fails, the default) or failOpen (a random endpoint serves) is an extension"},
	{"backendPolicies.sessionAffinity", Supported, ""},
	{"backendPolicies.ai", SupportedWithDifferences, "as policies.ai"},

	// top-level backends[]
	{"backends.name", Supported, ""},
	{"backends.policies", Supported, ""},
	{"backends.host", Supported, ""},
	{"backends.internal", NotSupported, "the admin service is not routable from listeners"},
	{"backends.mcp", Supported, ""},
	{"backends.ai", Supported, ""},
	{"backends.aws", SupportedWithDifferences, "as backend.aws"},

	// short forms
	{"mcp.gateways", Supported, ""},
	{"mcp.port", Supported, ""},
	{"mcp.targets", Supported, ""},
	{"mcp.statefulMode", Supported, ""},
	{"mcp.prefixMode", Supported, ""},
	{"mcp.failureMode", Supported, ""},
	{"mcp.dnsRebindingProtection", Supported, ""},
	{"mcp.policies", Supported, ""},
	{"llm.gateways", Supported, ""},
	{"llm.port", Supported, ""},
	{"llm.tls", SupportedWithDifferences, "static certificate, client CA, min/max version; no spiffe, dynamicCa, cipher suites or groups"},
	{"llm.providers", Supported, ""},
	{"llm.models", SupportedWithDifferences, "guardrails, passthrough, promptCaching, transformation, matches (headers; entries with matches are not virtual-model targets) and health (unhealthyExpression, eviction.consecutiveFailures and duration; health scores refused but restoreHealth 1.0, what an entry without scores does; active, newer than the schema: GET path on the provider's scheme and host every interval through the model's transport, without its API key, evicting after unhealthyThreshold failed probes and restoring after healthyThreshold passing ones, probes fed to no health score) per model; no authorization, finalTransformation, responseHeaders, backendTLS, tls or backendTunnel"},
	{"llm.models.serverTools", SupportedWithDifferences, "Anthropic Messages clients (/v1/messages, streamed or not, any provider): a declared server tool (a tools[] entry with a type and no input_schema) whose type matches tools[].type (web_search_* is a prefix) becomes a custom tool with the MCP tool's schema (or inputSchema) and description; the gateway calls mcp.tool on the named top-level mcp backend, appends the result and asks the model again, up to maxIterations (default 5; a client max_uses lowers it) or until the model repeats a call; the client receives the final message without the gateway's tool calls and with summed usage. failureMode failClosed (default) answers 502 when a call fails, failOpen tells the model; a tool's own isError result always goes to the model. Streaming clients get ping events every keepaliveInterval (default 15s) and the final message as synthesized stream events (the model is called unstreamed). maxResultBytes (default 64 KiB) caps a result. Not yet: OpenAI Responses web_search and Chat Completions web_search_options, mcp.target"},
	{"llm.virtualModels", Supported, ""},
	{"llm.policies", Supported, ""},
}

// compatRow returns the row of key.
func compatRow(key string) (CompatRow, bool) {
	for _, r := range Compatibility {
		if r.Key == key {
			return r, true
		}
	}
	return CompatRow{}, false
}

// refuse is the error for a key the table marks NotSupported, at path, in the table's words (wrapping
// ErrUnsupported).
func refuse(path, key string) error {
	return &agentgateway.ConfigError{Path: path, Err: refusalError(refusal(key))}
}

// refusalError is a refusal's sentence; it matches ErrUnsupported.
type refusalError string

func (e refusalError) Error() string        { return string(e) }
func (e refusalError) Is(target error) bool { return target == ErrUnsupported }

// refusal is the sentence a refusal of key says: "<key> is not supported yet: <note>".
func refusal(key string) string {
	r, ok := compatRow(key)
	if !ok || r.Note == "" {
		return key + " is not supported yet"
	}
	return key + " is not supported yet: " + r.Note
}

// unknownPolicy is the error for a policy key the policy table has no row for: the compatibility
// table's refusal (of bc's section, else of route policies) when the schema has the key, "unknown"
// otherwise.
func unknownPolicy(bc *BuildContext, path, key string, n *yaml.Node) error {
	for _, sec := range []string{bc.policyRows, "policies"} {
		if r, ok := compatRow(sec + "." + key); ok && r.Support == NotSupported {
			return refuse(path, r.Key)
		}
	}
	return errAt(path, n, "unknown or unsupported policy %q", key)
}

// refuseValue is the error for a value of key that is not supported (the row's note says which are).
func refuseValue(path, key, value string) error {
	r, _ := compatRow(key)
	return &agentgateway.ConfigError{Path: path, Err: refusalError(fmt.Sprintf("%s %q is not supported yet (%s)", key, value, r.Note))}
}

// decodeNode decodes a listener's or gateway's tls: the schema's keys this gateway has no field for are
// refused in the compatibility table's words, the rest decode strictly.
func (t *TLSSpec) decodeNode(n *yaml.Node, path string) error {
	if n.Kind == yaml.MappingNode {
		fields := structFields(reflect.TypeFor[TLSSpec]())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, ok := fields[k]; ok {
				continue
			}
			if r, ok := compatRow("tls." + k); ok && r.Support == NotSupported {
				return refuse(joinPath(path, k), "tls."+k)
			}
		}
	}
	type plain TLSSpec
	var p plain
	if err := decodeValue(n, reflectValue(&p), path); err != nil {
		return err
	}
	*t = TLSSpec(p)
	return nil
}

// NewerThanSchema names the rows for keys that agentgateway's published examples use but the schema
// this table follows (config.json of 2026-08-21) does not have yet; each is served with the meaning
// agentgateway's current source gives it.
var NewerThanSchema = map[string]bool{
	"backend.http":                true,
	"policies.mcpRemoteRateLimit": true,
	"policies.oauth2":             true,
	"llm.models.serverTools":      true,
}

// CompatibilityMarkdown renders the table as docs/compatibility.md holds it.
func CompatibilityMarkdown() string {
	var b strings.Builder
	b.WriteString("| key | support | differences / why not |\n|---|---|---|\n")
	for _, r := range Compatibility {
		note := r.Note
		if NewerThanSchema[r.Key] {
			note = strings.TrimSpace("(newer than the schema) " + note)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Key, r.Support, strings.ReplaceAll(note, "|", "\\|"))
	}
	return b.String()
}
