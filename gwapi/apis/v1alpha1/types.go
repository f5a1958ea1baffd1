package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Kinds of this group, as backendRefs and targetRefs name them.
const (
	KindBackend = "AgentgatewayBackend"
	KindPolicy  = "AgentgatewayPolicy"
)

// AgentgatewayBackend is a backend an HTTPRoute can name in a backendRef (group agentgateway.dev, kind
// AgentgatewayBackend). Exactly one of Static, AI, MCP and A2A is set.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=agbe
type AgentgatewayBackend struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AgentgatewayBackendSpec `json:"spec"`
	Status BackendStatus           `json:"status,omitempty"`
}

// AgentgatewayBackendSpec says what the backend is.
type AgentgatewayBackendSpec struct {
	// Static is a plain HTTP host.
	Static *StaticBackend `json:"static,omitempty"`
	// AI is an LLM provider (OpenAI- or Anthropic-compatible) behind the gateway's LLM router.
	AI *AIBackend `json:"ai,omitempty"`
	// MCP federates MCP servers into one MCP endpoint.
	MCP *MCPBackend `json:"mcp,omitempty"`
	// A2A is an agent speaking the A2A protocol; its agent card is rewritten to the gateway's URL.
	// agentgateway marks A2A Services with appProtocol instead; this field is an addition.
	A2A *A2ABackend `json:"a2a,omitempty"`
	// Policies apply when the gateway talks to this backend.
	Policies *BackendPolicies `json:"policies,omitempty"`
}

// StaticBackend is a host and port.
type StaticBackend struct {
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// AIBackend is an LLM provider.
type AIBackend struct {
	Provider LLMProvider `json:"provider"`
}

// LLMProvider names one provider; Host, Port and Path override where it is reached (a
// self-hosted OpenAI-compatible server, or a test stub).
type LLMProvider struct {
	OpenAI    *ProviderModel `json:"openai,omitempty"`
	Anthropic *ProviderModel `json:"anthropic,omitempty"`
	Host      string         `json:"host,omitempty"`
	Port      int32          `json:"port,omitempty"`
	// Path replaces the provider's request path.
	Path string `json:"path,omitempty"`
}

// ProviderModel optionally pins the model sent upstream; unset, the client's model is used.
type ProviderModel struct {
	Model *string `json:"model,omitempty"`
}

// MCPBackend is a federation of MCP targets.
type MCPBackend struct {
	// +kubebuilder:validation:MinItems=1
	Targets []MCPTarget `json:"targets"`
}

// MCPTarget is one MCP server: a static address, or the Services a selector picks (each Service
// port with appProtocol agentgateway.dev/mcp or kgateway.dev/mcp becomes a target named
// "<service>-<port name or number>").
type MCPTarget struct {
	Name     string           `json:"name"`
	Static   *MCPStaticTarget `json:"static,omitempty"`
	Selector *MCPSelector     `json:"selector,omitempty"`
}

// MCPProtocol is how an MCP target is spoken to.
//
// +kubebuilder:validation:Enum=StreamableHTTP;SSE
type MCPProtocol string

// The MCP target protocols.
const (
	MCPStreamableHTTP MCPProtocol = "StreamableHTTP"
	MCPSSE            MCPProtocol = "SSE"
)

// MCPStaticTarget is an MCP server at host:port.
type MCPStaticTarget struct {
	Host string `json:"host"`
	Port int32  `json:"port"`
	// Path defaults to /mcp (StreamableHTTP) or /sse (SSE).
	Path string `json:"path,omitempty"`
	// Protocol defaults to StreamableHTTP.
	Protocol MCPProtocol `json:"protocol,omitempty"`
}

// MCPSelector picks Services by labels, in the backend's namespace unless Namespaces is set.
type MCPSelector struct {
	Namespaces *metav1.LabelSelector `json:"namespaces,omitempty"`
	Services   *metav1.LabelSelector `json:"services,omitempty"`
}

// A2ABackend is an A2A agent at host:port.
type A2ABackend struct {
	Host string `json:"host"`
	Port int32  `json:"port"`
	// Path is the agent's base path (default /).
	Path string `json:"path,omitempty"`
}

// BackendPolicies apply between the gateway and the backend.
type BackendPolicies struct {
	Auth *BackendAuth `json:"auth,omitempty"`
}

// BackendAuth sends a credential to the backend as "Authorization: Bearer <key>" (for AI backends,
// the provider's own API key header). The key is Key, or the "Authorization" entry of the Secret
// SecretRef names in the backend's namespace.
type BackendAuth struct {
	Key       *string                      `json:"key,omitempty"`
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`
}

// BackendStatus reports whether the backend could be built.
type BackendStatus struct {
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// AgentgatewayBackendList is a list of AgentgatewayBackends.
//
// +kubebuilder:object:root=true
type AgentgatewayBackendList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentgatewayBackend `json:"items"`
}

// AgentgatewayPolicy attaches policies to the objects its targetRefs name: a Gateway (every route it
// serves; sectionName picks a listener), an HTTPRoute or a GRPCRoute (sectionName picks a rule by
// name), an AgentgatewayBackend or a Service. A policy on a route applies inside (after) one on its
// Gateway. Traffic policies attach to Gateways and routes; backend policies to any of the targets
// (on a Gateway or route they apply to every backend it reaches; tls needs a backend or Service).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=agpo
type AgentgatewayPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AgentgatewayPolicySpec `json:"spec"`
	Status PolicyStatus           `json:"status,omitempty"`
}

// AgentgatewayPolicySpec is the policy and what it attaches to.
type AgentgatewayPolicySpec struct {
	// +kubebuilder:validation:MinItems=1
	TargetRefs []gwv1.LocalPolicyTargetReferenceWithSectionName `json:"targetRefs"`
	Traffic    *TrafficPolicy                                   `json:"traffic,omitempty"`
	// Backend says how the gateway talks to the backends of its targets (backend_policy.go).
	Backend *BackendPolicy `json:"backend,omitempty"`
}

// TrafficPolicy is the request-level policy set this implementation supports.
//
// The fields after Timeouts hold agentgateway's config-schema objects as they are (the bodies of a
// standalone config's route `policies`: jwtAuth, extAuthz, authorization, retry, the header
// modifiers, transformations, basicAuth, csrf, directResponse, extProc; rateLimit.global is
// remoteRateLimit), compiled by package config, so that a file, xDS and Kubernetes share one
// implementation of each policy. Bodies may not name files ({file: ...}): a Kubernetes object must
// not read the controller's filesystem.
type TrafficPolicy struct {
	CORS                 *gwv1.HTTPCORSFilter  `json:"cors,omitempty"`
	RateLimit            *RateLimit            `json:"rateLimit,omitempty"`
	APIKeyAuthentication *APIKeyAuthentication `json:"apiKeyAuthentication,omitempty"`
	Timeouts             *Timeouts             `json:"timeouts,omitempty"`

	// JWTAuthentication is the schema's jwtAuth (mode, providers with issuer, audiences, jwks).
	JWTAuthentication *apiextensionsv1.JSON `json:"jwtAuthentication,omitempty"`
	// ExtAuth is the schema's extAuthz (an ext_authz gRPC or HTTP service).
	ExtAuth *apiextensionsv1.JSON `json:"extAuth,omitempty"`
	// Authorization is the schema's authorization (CEL allow/deny rules).
	Authorization *apiextensionsv1.JSON `json:"authorization,omitempty"`
	// Retry is the schema's retry (attempts, backoff, codes).
	Retry *apiextensionsv1.JSON `json:"retry,omitempty"`
	// HeaderModifiers modify request and response headers.
	HeaderModifiers *HeaderModifiers `json:"headerModifiers,omitempty"`
	// Transformation is the schema's transformations (CEL request/response rewrites).
	Transformation *apiextensionsv1.JSON `json:"transformation,omitempty"`
	// BasicAuthentication is the schema's basicAuth.
	BasicAuthentication *apiextensionsv1.JSON `json:"basicAuthentication,omitempty"`
	// CSRF is the schema's csrf.
	CSRF *apiextensionsv1.JSON `json:"csrf,omitempty"`
	// DirectResponse is the schema's directResponse (status, body): the route answers itself.
	DirectResponse *apiextensionsv1.JSON `json:"directResponse,omitempty"`
	// ExtProc is the schema's extProc (an Envoy ext_proc gRPC service by host or service).
	ExtProc *apiextensionsv1.JSON `json:"extProc,omitempty"`
}

// HeaderModifiers hold the schema's HeaderModifier (set, add, remove) for each direction.
type HeaderModifiers struct {
	Request  *apiextensionsv1.JSON `json:"request,omitempty"`
	Response *apiextensionsv1.JSON `json:"response,omitempty"`
}

// RateLimit holds local (per replica) token buckets, all of which apply, and a global limit kept by
// a rate limit service.
type RateLimit struct {
	Local []LocalRateLimit `json:"local,omitempty"`
	// Global is the schema's remoteRateLimit (an Envoy rate limit service by host or service, domain,
	// descriptors).
	Global *apiextensionsv1.JSON `json:"global,omitempty"`
}

// RateLimitUnit is the refill period of a local rate limit.
//
// +kubebuilder:validation:Enum=Seconds;Minutes;Hours
type RateLimitUnit string

// The rate-limit units.
const (
	Seconds RateLimitUnit = "Seconds"
	Minutes RateLimitUnit = "Minutes"
	Hours   RateLimitUnit = "Hours"
)

// LocalRateLimit allows Requests requests (or Tokens LLM tokens) per Unit, plus Burst.
type LocalRateLimit struct {
	Requests *int32        `json:"requests,omitempty"`
	Tokens   *int32        `json:"tokens,omitempty"`
	Unit     RateLimitUnit `json:"unit"`
	Burst    *int32        `json:"burst,omitempty"`
}

// APIKeyMode says whether a request without a valid key is refused.
//
// +kubebuilder:validation:Enum=Strict;Optional
type APIKeyMode string

// The API key modes.
const (
	APIKeyStrict   APIKeyMode = "Strict"
	APIKeyOptional APIKeyMode = "Optional"
)

// APIKeyAuthentication accepts the keys stored in a Secret of the policy's namespace: every entry's
// value is a key, its name the key's name (the request's subject).
type APIKeyAuthentication struct {
	Mode      APIKeyMode                   `json:"mode,omitempty"`
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`
}

// Timeouts bound the request.
type Timeouts struct {
	Request *gwv1.Duration `json:"request,omitempty"`
}

// PolicyStatus reports, per target ancestor, whether the policy was accepted.
type PolicyStatus struct {
	Ancestors []gwv1.PolicyAncestorStatus `json:"ancestors,omitempty"`
}

// AgentgatewayPolicyList is a list of AgentgatewayPolicies.
//
// +kubebuilder:object:root=true
type AgentgatewayPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentgatewayPolicy `json:"items"`
}
