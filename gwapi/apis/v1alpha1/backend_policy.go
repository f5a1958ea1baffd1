package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// BackendPolicy says how the gateway talks to backends (agentgateway's `spec.backend`). On an
// AgentgatewayBackend or a Service it applies to that backend; on a Gateway, listener, route or
// rule, to every backend reached through it (tls excepted, which needs a backend target).
//
// Auth, MCP and AI hold agentgateway's config-schema objects, compiled by package config as a
// standalone config's route policies of the same names are.
type BackendPolicy struct {
	// TLS originates TLS to the backend, verified with the CA of a ConfigMap (or the system roots).
	TLS *BackendTLS `json:"tls,omitempty"`
	// Auth is the schema's backendAuth (passthrough, key, gcp, aws, azure, jwtSign,
	// oauthTokenExchange, crossAppAccess), plus secretRef: the key is the "Authorization" entry of
	// that Secret in the policy's namespace (a "Bearer " prefix is dropped), and aws.secretRef: the
	// credentials are its accessKey, secretKey and optional sessionToken entries. On an AI backend a
	// key (or passthrough) is the provider's own API key header.
	Auth *apiextensionsv1.JSON `json:"auth,omitempty"`
	// MCP applies to MCP federations.
	MCP *BackendMCP `json:"mcp,omitempty"`
	// AI is the schema's ai policy (promptGuard, defaults, overrides, prompts, modelAliases,
	// promptCaching, routes), for AI backends.
	AI *apiextensionsv1.JSON `json:"ai,omitempty"`
}

// BackendMCP holds the MCP policies of a federation.
type BackendMCP struct {
	// Authorization is the schema's mcpAuthorization (CEL rules on mcp.tool and the caller's claims):
	// listed items a rule does not allow are hidden, calls to them refused.
	Authorization *apiextensionsv1.JSON `json:"authorization,omitempty"`
	// Authentication is the schema's mcpAuthentication (issuer, audiences, jwks, provider,
	// resourceMetadata, mode): MCP's OAuth protected-resource flow.
	Authentication *apiextensionsv1.JSON `json:"authentication,omitempty"`
}

// InsecureTLSMode relaxes backend certificate verification.
//
// +kubebuilder:validation:Enum=All;Hostname
type InsecureTLSMode string

// The insecure TLS modes.
const (
	// InsecureTLSAll verifies nothing.
	InsecureTLSAll InsecureTLSMode = "All"
	// InsecureTLSHostname verifies the chain but not the name.
	InsecureTLSHostname InsecureTLSMode = "Hostname"
)

// BackendTLS originates TLS to the backend (agentgateway's `backend.tls`).
type BackendTLS struct {
	// MTLSCertificateRef names a Secret of the policy's namespace whose tls.crt and tls.key are
	// presented to the backend; its ca.crt, when present, verifies the backend unless
	// caCertificateRefs is set.
	//
	// +kubebuilder:validation:MaxItems=1
	MTLSCertificateRef []corev1.LocalObjectReference `json:"mtlsCertificateRef,omitempty"`
	// CACertificateRefs names a ConfigMap of the policy's namespace whose ca.crt verifies the
	// backend's certificate; unset, the system roots do.
	//
	// +kubebuilder:validation:MaxItems=1
	CACertificateRefs []corev1.LocalObjectReference `json:"caCertificateRefs,omitempty"`
	// InsecureSkipVerify skips verification: All of it, or the Hostname only.
	InsecureSkipVerify *InsecureTLSMode `json:"insecureSkipVerify,omitempty"`
	// SNI is the server name sent and verified (default: the backend's host).
	SNI *string `json:"sni,omitempty"`
	// VerifySubjectAltNames are accepted in place of the SNI (DNS names or URIs such as spiffe://...).
	VerifySubjectAltNames []string `json:"verifySubjectAltNames,omitempty"`
	// AlpnProtocols are offered in the handshake (default h2 and http/1.1).
	AlpnProtocols []string `json:"alpnProtocols,omitempty"`
}
