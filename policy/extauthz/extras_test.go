package extauthz_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy/extauthz"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

// celBackend evaluates expr as a later policy would and records the result.
func celBackend(t *testing.T, expr string, out *atomic.Value) http.Handler {
	p, err := cel.Compile(expr, nil)
	require.NoError(t, err)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := p.EvalString(r.Context(), cel.NewActivation(r, nil))
		if err != nil {
			out.Store("error: " + err.Error())
		} else {
			out.Store(v)
		}
		w.WriteHeader(200)
	})
}

// TestExtAuthzHTTPMetadata: the HTTP protocol's metadata expressions read the authorization answer
// (response.code/headers/body) and are extauthz.* for later CEL.
func TestExtAuthzHTTPMetadata(t *testing.T) {
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Tier", "gold")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"user":"alice","groups":["a","b"]}`)
	}))
	defer authz.Close()
	x, err := extauthz.New(extauthz.Config{Host: authz.URL, HTTP: &extauthz.HTTP{Metadata: map[string]string{
		"user":  `json(response.body).user`,
		"tier":  `response.headers["x-tier"]`,
		"code":  `response.code`,
		"bogus": `response.headers["missing"]`,
	}}})
	require.NoError(t, err)
	defer x.Close()
	var got atomic.Value
	w := policytest.Do(x, celBackend(t, `extauthz.user + "/" + extauthz.tier + "/" + string(extauthz.code) + "/" + string(has(extauthz.bogus))`, &got), policytest.Req("GET", "/"))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "alice/gold/200/false", got.Load())

	_, err = extauthz.New(extauthz.Config{Host: "h:1", HTTP: &extauthz.HTTP{Metadata: map[string]string{"m": "response."}}})
	var ce *agentgateway.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "http.metadata.m", ce.Path)
}

// metaServer answers OK with dynamic_metadata naming the user, and counts its checks.
type metaServer struct {
	authv3.UnimplementedAuthorizationServer
	calls atomic.Int32
	mu    sync.Mutex
	last  *authv3.CheckRequest
}

func (s *metaServer) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	s.calls.Add(1)
	s.mu.Lock()
	s.last = req
	s.mu.Unlock()
	user := req.GetAttributes().GetRequest().GetHttp().GetHeaders()["x-user"]
	if user == "" {
		return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.PermissionDenied)}}, nil
	}
	md, _ := structpb.NewStruct(map[string]any{"user": user, "ttl": "60s"})
	return &authv3.CheckResponse{
		Status:          &status.Status{Code: int32(codes.OK)},
		DynamicMetadata: md,
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-auth-user", Value: user}}},
		}},
	}, nil
}

// TestExtAuthzGRPCMetadataAndCache: dynamic_metadata is extauthz.*; decisions are cached by the key
// expressions for the TTL expression's duration (which can read the answer), denials too, and the
// cached decision is applied as the original was.
func TestExtAuthzGRPCMetadataAndCache(t *testing.T) {
	as := &metaServer{}
	addr := policytest.StartGRPC(t, func(s *grpc.Server) { authv3.RegisterAuthorizationServer(s, as) })
	now := time.Unix(1_800_000_000, 0)
	var clock sync.Mutex
	x, err := extauthz.New(extauthz.Config{Host: addr, Cache: &extauthz.Cache{
		Key: []string{`request.headers["x-user"]`}, TTL: `has(extauthz.ttl) ? duration(extauthz.ttl) : duration("5s")`,
		Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now },
	}})
	require.NoError(t, err)
	defer x.Close()
	var got atomic.Value
	call := func(user string) *httptest.ResponseRecorder {
		var hdr []string
		if user != "" {
			hdr = []string{"X-User", user}
		}
		return policytest.Do(x, celBackend(t, `extauthz.user + ":" + request.headers["x-auth-user"]`, &got), policytest.Req("GET", "/", hdr...))
	}
	require.Equal(t, 200, call("alice").Code)
	assert.Equal(t, "alice:alice", got.Load())
	assert.EqualValues(t, 1, as.calls.Load())
	got.Store("")
	require.Equal(t, 200, call("alice").Code)
	assert.Equal(t, "alice:alice", got.Load(), "the cached decision mutates the request and sets extauthz as the first did")
	assert.EqualValues(t, 1, as.calls.Load(), "cache hit")
	call("bob")
	assert.EqualValues(t, 2, as.calls.Load())

	clock.Lock()
	now = now.Add(61 * time.Second)
	clock.Unlock()
	call("alice")
	assert.EqualValues(t, 3, as.calls.Load(), "expired after the TTL the answer gave")

	// No key value: never cached. A denial with a key is cached (for the default 5s).
	n := as.calls.Load()
	assert.Equal(t, 403, call("").Code)
	assert.Equal(t, 403, call("").Code)
	assert.EqualValues(t, n+2, as.calls.Load())

	for field, c := range map[string]extauthz.Cache{
		"cache.key":        {TTL: `duration("1s")`},
		"cache.key[0]":     {Key: []string{"1 +"}, TTL: `duration("1s")`},
		"cache.ttl":        {Key: []string{"1"}},
		"cache.maxEntries": {Key: []string{"1"}, TTL: `duration("1s")`, MaxEntries: -1},
	} {
		_, err := extauthz.New(extauthz.Config{Host: "h:1", Cache: &c})
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

// TestExtAuthzGRPCSendsJWTClaims: with no metadata configured, a verified JWT's claims go to the
// service as envoy.filters.http.jwt_authn's jwt_payload, as Envoy's filter chain would send them.
func TestExtAuthzGRPCSendsJWTClaims(t *testing.T) {
	as := &metaServer{}
	addr := policytest.StartGRPC(t, func(s *grpc.Server) { authv3.RegisterAuthorizationServer(s, as) })
	x, err := extauthz.New(extauthz.Config{Host: addr})
	require.NoError(t, err)
	defer x.Close()
	withJWT := agentgateway.PolicyFunc(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			agentgateway.StateFrom(r.Context()).Identity.JWT = map[string]any{"sub": "alice", "scope": "read"}
			x.Wrap(next).ServeHTTP(w, r)
		})
	})
	var s policytest.Seen
	policytest.Do(withJWT, s.Handler(200, ""), policytest.Req("GET", "/", "X-User", "a"))
	as.mu.Lock()
	defer as.mu.Unlock()
	md := as.last.GetAttributes().GetMetadataContext().GetFilterMetadata()["envoy.filters.http.jwt_authn"].AsMap()
	assert.Equal(t, map[string]any{"jwt_payload": map[string]any{"sub": "alice", "scope": "read"}}, md)
}
