// Package xdspb holds the generated Go code of agentgateway's xDS resource protos (resources.proto).
// The generated file is committed: building the module needs no protoc.
package xdspb

//go:generate protoc --go_out=. --go_opt=paths=source_relative resources.proto
