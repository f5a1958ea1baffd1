// Package v1alpha1 holds agentgateway's own Kubernetes resources, in the group agentgateway.dev:
// AgentgatewayBackend (an MCP federation, an A2A agent, an LLM provider or a static host as a route
// backend) and AgentgatewayPolicy (traffic policies attached by targetRef to a Gateway, a listener, a
// route or one of its rules). Their names and shapes follow agentgateway's CRDs (kgateway's
// agentgateway.dev/v1alpha1) where this implementation supports the feature; see the type docs for the
// differences. The CRD manifests are in gwapi/crds.
//
// +kubebuilder:object:generate=true
// +groupName=agentgateway.dev
package v1alpha1
