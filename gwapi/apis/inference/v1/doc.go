// Package v1 holds minimal Go types of the Gateway API Inference Extension's InferencePool
// (inference.networking.k8s.io/v1) with the same JSON shape as upstream: its module
// (sigs.k8s.io/gateway-api-inference-extension) is not available to this build. Only the fields
// the gateway reads are declared; the CRD in gwapi/crds is generated from them, so install
// upstream's CRD in a real cluster.
//
// +kubebuilder:object:generate=true
// +groupName=inference.networking.k8s.io
package v1
