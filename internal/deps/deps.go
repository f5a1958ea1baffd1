//go:build tools

// Package deps pins modules that packages under development will import, so go.mod and go.sum stay
// complete while several packages grow at once. Removed once every import is real.
package deps

import (
	_ "github.com/a2aproject/a2a-go/a2a"
	_ "github.com/a2aproject/a2a-go/a2aclient"
	_ "github.com/a2aproject/a2a-go/a2aclient/agentcard"
	_ "github.com/a2aproject/a2a-go/a2asrv"
	_ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/go-jose/go-jose/v4/jwt"
	_ "github.com/google/cel-go/cel"
	_ "github.com/google/cel-go/ext"
	_ "github.com/modelcontextprotocol/go-sdk/jsonrpc"
	_ "github.com/modelcontextprotocol/go-sdk/mcp"
	_ "github.com/stretchr/testify/require"
	_ "go.opentelemetry.io/otel"
	_ "go.opentelemetry.io/otel/metric"
	_ "go.opentelemetry.io/otel/sdk/metric"
	_ "go.opentelemetry.io/otel/sdk/trace"
	_ "go.opentelemetry.io/otel/trace"
	_ "go.uber.org/goleak"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/oauth2/google"
	_ "google.golang.org/grpc"
	_ "gopkg.in/yaml.v3"
)
