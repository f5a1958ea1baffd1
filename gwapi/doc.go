// Package gwapi translates Kubernetes Gateway API objects (GatewayClass, Gateway, HTTPRoute,
// ReferenceGrant, Services and EndpointSlices) into the same runtime the YAML configuration builds:
// one [agentgateway.Config] per Gateway, applied with [agentgateway.Gateway.Apply]. It also computes
// the statuses Gateway API requires and writes them back through a controller-runtime client.
//
// The package lives outside xds/ because translation does not depend on how configuration travels:
// an in-process controller (this package's [Controller]) and an xDS server can both use [Translate].
// The root package never imports it, so embedders who do not use Kubernetes pay nothing for it.
package gwapi
