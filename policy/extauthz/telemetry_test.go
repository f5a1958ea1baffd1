package extauthz_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/oteltest"
	"github.com/agentgw/agentgateway/policy/extauthz"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

// tracedAuthz records the traceparent each check arrives with.
type tracedAuthz struct {
	authzServer
	mu   sync.Mutex
	seen []string
}

func (s *tracedAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.seen = append(s.seen, md.Get("traceparent")...)
	s.mu.Unlock()
	return s.authzServer.Check(ctx, req)
}

// Each check runs in a client span under the request's server span, the service receives its trace
// context in gRPC metadata, and a denial is counted.
func TestExtAuthzTelemetry(t *testing.T) {
	env := oteltest.New(t)
	as := &tracedAuthz{}
	addr := policytest.StartGRPC(t, func(s *grpc.Server) { authv3.RegisterAuthorizationServer(s, as) })
	x, err := extauthz.New(extauthz.Config{Host: addr})
	require.NoError(t, err)
	defer x.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithTracerProvider(env.TP), agentgateway.WithMeterProvider(env.MP))
	require.NoError(t, gw.Route("api").PathPrefix("/").Use(x).To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))

	for _, user := range []string{"alice", ""} {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if user != "" {
			req.Header.Set("X-User", user)
		}
		gw.ServeHTTP(httptest.NewRecorder(), req)
	}
	checks := env.Ended("ext_authz Check")
	require.Len(t, checks, 2, env.Dump())
	servers := env.Ended("GET api")
	require.Len(t, servers, 2, env.Dump())
	as.mu.Lock()
	defer as.mu.Unlock()
	require.Len(t, as.seen, 2)
	for i, c := range checks {
		require.Equal(t, trace.SpanKindClient, c.SpanKind())
		require.Equal(t, servers[i].SpanContext().SpanID(), c.Parent().SpanID())
		require.Equal(t, "00-"+c.SpanContext().TraceID().String()+"-"+c.SpanContext().SpanID().String()+"-01", as.seen[i])
	}
	require.Equal(t, "true", oteltest.SpanAttrs(checks[0])["agentgateway.authz.allowed"])
	require.Equal(t, "false", oteltest.SpanAttrs(checks[1])["agentgateway.authz.allowed"])
	p, ok := env.Find(t, "agentgateway.authz.denials", map[string]string{"agentgateway.policy": "extAuthz", "http.route": "api"})
	require.True(t, ok, "%v", env.Points(t, "agentgateway.authz.denials"))
	require.EqualValues(t, 1, p.Value)
}
