// Package apicheck holds repository-wide tests of the module's public surface: the light packages
// (the root, policy, mcp, a2a, cel) must not link cloud SDKs, gRPC or Envoy protos, and no exported
// identifier of a public package may mention a type of an internal package. It has no code of its own.
package apicheck
