package remoteratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/oteltest"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
	"github.com/agentgw/agentgateway/policy/remoteratelimit"
)

type tracedRLS struct {
	*rls
	mu   sync.Mutex
	seen []string
}

func (s *tracedRLS) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.seen = append(s.seen, md.Get("traceparent")...)
	s.mu.Unlock()
	return s.rls.ShouldRateLimit(ctx, req)
}

// Each call to the service runs in a client span whose context the service receives, and the
// decisions are counted.
func TestRemoteRateLimitTelemetry(t *testing.T) {
	env := oteltest.New(t)
	svc := &tracedRLS{rls: &rls{limit: 1, counts: map[string]uint64{}}}
	addr := policytest.StartGRPC(t, func(s *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(s, svc) })
	rl, err := remoteratelimit.New(remoteratelimit.Config{Host: addr, Domain: "agents",
		Descriptors: []remoteratelimit.Descriptor{{Entries: []remoteratelimit.DescriptorKV{{Key: "k", Value: `"all"`}}}}})
	require.NoError(t, err)
	defer rl.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithTracerProvider(env.TP), agentgateway.WithMeterProvider(env.MP))
	require.NoError(t, gw.Route("api").PathPrefix("/").Use(rl).To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	codes := []int{}
	for range 2 {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		codes = append(codes, rec.Code)
	}
	require.Equal(t, []int{200, 429}, codes)
	calls := env.Ended("ratelimit ShouldRateLimit")
	require.Len(t, calls, 2, env.Dump())
	svc.mu.Lock()
	require.Equal(t, "00-"+calls[1].SpanContext().TraceID().String()+"-"+calls[1].SpanContext().SpanID().String()+"-01", svc.seen[1])
	svc.mu.Unlock()
	for _, d := range []string{"allowed", "denied"} {
		p, ok := env.Find(t, "agentgateway.ratelimit.decisions", map[string]string{"agentgateway.ratelimit.decision": d, "http.route": "api"})
		require.True(t, ok, "%v", env.Points(t, "agentgateway.ratelimit.decisions"))
		require.EqualValues(t, 1, p.Value)
	}
}
