// Package xds configures gateways from an xDS control plane: a [Server] (a Delta ADS server of its own,
// ads.go: go-control-plane's would link every Envoy resource type into the binary) serves a configuration given as a config
// file ([Server.SetYAML]) or as [Resources] built in Go; a [Client] in each data plane subscribes,
// compiles every update with package config (the same Load and Build as a file) and applies it with
// Gateway.Apply, NACKing an update that does not build while the last good config keeps serving.
//
// The resources are this project's own protos (package xdspb, type URLs [TypeURLs]): Listener, Route,
// Backend, Policy and Section. Their structure is typed; their bodies are the objects of agentgateway's
// config schema, so that every policy and backend a file supports is available over xDS, validated
// by one compiler. agentgateway's own resource protos are not used: they are not published as a Go
// module this project can depend on.
package xds
