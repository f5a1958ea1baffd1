package remoteratelimit_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
	"github.com/agentgw/agentgateway/policy/remoteratelimit"
)

// rls is a real envoy.service.ratelimit.v3.RateLimitService: a fixed limit per distinct descriptor,
// counted in memory (the standard service keeps the same counters in Redis).
type rls struct {
	rlsv3.UnimplementedRateLimitServiceServer
	limit  uint64
	mu     sync.Mutex
	counts map[string]uint64
	domain string
}

func (s *rls) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.domain = req.GetDomain()
	resp := &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OK}
	for _, d := range req.GetDescriptors() {
		key := ""
		for _, e := range d.GetEntries() {
			key += e.GetKey() + "=" + e.GetValue() + ";"
		}
		hits := uint64(1)
		if d.GetHitsAddend() != nil {
			hits = d.GetHitsAddend().GetValue()
		}
		s.counts[key] += hits
		st := &rlsv3.RateLimitResponse_DescriptorStatus{Code: rlsv3.RateLimitResponse_OK}
		if s.counts[key] > s.limit {
			st.Code = rlsv3.RateLimitResponse_OVER_LIMIT
			st.DurationUntilReset = durationpb.New(42e9)
			resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
			resp.ResponseHeadersToAdd = []*corev3.HeaderValue{{Key: "x-ratelimit-limit", Value: "2"}}
		}
		resp.Statuses = append(resp.Statuses, st)
	}
	resp.RequestHeadersToAdd = []*corev3.HeaderValue{{Key: "x-rl-checked", Value: "1"}}
	return resp, nil
}

func TestRemoteRateLimit(t *testing.T) {
	svc := &rls{limit: 2, counts: map[string]uint64{}}
	addr := policytest.StartGRPC(t, func(s *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(s, svc) })
	rl, err := remoteratelimit.New(remoteratelimit.Config{
		Host: addr, Domain: "agents",
		Descriptors: []remoteratelimit.Descriptor{{Entries: []remoteratelimit.DescriptorKV{{Key: "user", Value: `request.headers["x-user"]`}}}},
	})
	require.NoError(t, err)
	defer rl.Close()
	call := func(user string) *httptest.ResponseRecorder {
		var s policytest.Seen
		return policytest.Do(rl, s.Handler(200, ""), policytest.Req("GET", "/", "X-User", user))
	}
	assert.Equal(t, 200, call("a").Code)
	assert.Equal(t, 200, call("a").Code)
	w := call("a")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "2", w.Header().Get("X-Ratelimit-Limit"))
	assert.Equal(t, "42", w.Header().Get("Retry-After"))
	assert.Equal(t, 200, call("b").Code, "separate descriptor")
	assert.Equal(t, "agents", svc.domain)

	// A descriptor whose expression fails is skipped: with none left, the request is not limited.
	assert.Equal(t, 200, policytest.Do(rl, (&policytest.Seen{}).Handler(200, ""), policytest.Req("GET", "/")).Code)
}

func TestRemoteRateLimitFailure(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := lis.Addr().String()
	require.NoError(t, lis.Close())
	for mode, want := range map[agentgateway.FailureMode]int{agentgateway.FailClosed: 500, agentgateway.FailOpen: 200} {
		rl, err := remoteratelimit.New(remoteratelimit.Config{Host: dead, Domain: "d", FailureMode: mode,
			Descriptors: []remoteratelimit.Descriptor{{Entries: []remoteratelimit.DescriptorKV{{Key: "k", Value: `"v"`}}}}})
		require.NoError(t, err)
		st := &agentgateway.State{}
		r := policytest.Req("GET", "/").WithContext(agentgateway.WithState(context.Background(), st))
		w := httptest.NewRecorder()
		rl.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
		assert.Equal(t, want, w.Code, mode.String())
		assert.ErrorIs(t, st.Err, remoteratelimit.ErrService)
		require.NoError(t, rl.Close())
	}
	for field, spec := range map[string]remoteratelimit.Config{
		"host":                            {Domain: "d"},
		"domain":                          {Host: "h:1"},
		"descriptors":                     {Host: "h:1", Domain: "d"},
		"failureMode":                     {Host: "h:1", Domain: "d", FailureMode: agentgateway.FailureMode(3), Descriptors: []remoteratelimit.Descriptor{{}}},
		"descriptors[0].entries":          {Host: "h:1", Domain: "d", Descriptors: []remoteratelimit.Descriptor{{}}},
		"descriptors[0].entries[0].value": {Host: "h:1", Domain: "d", Descriptors: []remoteratelimit.Descriptor{{Entries: []remoteratelimit.DescriptorKV{{Key: "k", Value: "("}}}}},
	} {
		_, err := remoteratelimit.New(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}
