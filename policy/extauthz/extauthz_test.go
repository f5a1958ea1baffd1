package extauthz_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/extauthz"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

// authzServer is a real envoy.service.auth.v3.Authorization server: it allows requests carrying
// x-user (adding x-auth-user upstream and x-authz downstream) and denies the rest with 401.
type authzServer struct {
	authv3.UnimplementedAuthorizationServer
	mu   sync.Mutex
	last *authv3.CheckRequest
}

func (s *authzServer) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	s.mu.Lock()
	s.last = req
	s.mu.Unlock()
	h := req.GetAttributes().GetRequest().GetHttp()
	if user := h.GetHeaders()["x-user"]; user != "" {
		return &authv3.CheckResponse{
			Status: &status.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers:              []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-auth-user", Value: user}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}},
				HeadersToRemove:      []string{"x-user"},
				ResponseHeadersToAdd: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-authz", Value: "ok"}}},
			}},
		}, nil
	}
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized},
			Headers: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "www-authenticate", Value: `Bearer realm="ext"`}}},
			Body:    "who are you?",
		}},
	}, nil
}

func TestExtAuthzGRPC(t *testing.T) {
	as := &authzServer{}
	addr := policytest.StartGRPC(t, func(s *grpc.Server) { authv3.RegisterAuthorizationServer(s, as) })
	x, err := extauthz.New(extauthz.Config{
		Host:               addr,
		GRPC:               &extauthz.GRPC{Context: map[string]string{"route": "r1"}, Metadata: map[string]string{"gw": `{"sub": identity}`}},
		IncludeRequestBody: &extauthz.BodyOptions{MaxRequestBytes: 16},
	})
	require.NoError(t, err)
	defer x.Close()

	var s policytest.Seen
	w := policytest.Do(x, s.Handler(200, "hello"), policytest.ReqBody("POST", "/api?q=1", "body!", "X-User", "alice"))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "alice", s.Req.Header.Get("X-Auth-User"))
	assert.Empty(t, s.Req.Header.Get("X-User"), "removed by the authorizer")
	assert.Equal(t, "body!", s.Body, "body still reaches the backend")
	assert.Equal(t, "ok", w.Header().Get("X-Authz"))
	assert.Equal(t, "alice", s.State.Identity.Headers["x-auth-user"])
	assert.Equal(t, "extAuthz", s.State.Identity.Method)

	as.mu.Lock()
	h := as.last.GetAttributes().GetRequest().GetHttp()
	assert.Equal(t, "POST", h.GetMethod())
	assert.Equal(t, "/api?q=1", h.GetPath())
	assert.Equal(t, "body!", h.GetBody())
	assert.Equal(t, "r1", as.last.GetAttributes().GetContextExtensions()["route"])
	assert.Contains(t, as.last.GetAttributes().GetMetadataContext().GetFilterMetadata(), "gw")
	as.mu.Unlock()

	s = policytest.Seen{}
	w = policytest.Do(x, s.Handler(200, ""), policytest.Req("GET", "/api"))
	assert.Equal(t, 401, w.Code)
	assert.Equal(t, "who are you?", w.Body.String())
	assert.Equal(t, `Bearer realm="ext"`, w.Header().Get("WWW-Authenticate"))
	assert.Zero(t, s.Calls)

	w = policytest.Do(x, s.Handler(200, ""), policytest.ReqBody("POST", "/api", strings.Repeat("x", 100), "X-User", "a"))
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
}

func TestExtAuthzFailureModes(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := lis.Addr().String()
	require.NoError(t, lis.Close()) // nothing listens there now

	for _, c := range []struct {
		mode   agentgateway.FailureMode
		status int
		want   int
	}{
		{agentgateway.FailClosed, 0, 403},
		{agentgateway.FailOpen, 0, 200},
		{agentgateway.FailClosed, 503, 503},
	} {
		x, err := extauthz.New(extauthz.Config{Host: dead, FailureMode: c.mode, DenyStatus: c.status, Timeout: 2 * time.Second})
		require.NoError(t, err)
		st := &agentgateway.State{}
		r := policytest.Req("GET", "/").WithContext(agentgateway.WithState(context.Background(), st))
		w := httptest.NewRecorder()
		x.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
		assert.Equal(t, c.want, w.Code)
		assert.ErrorIs(t, st.Err, extauthz.ErrFailed)
		require.NoError(t, x.Close())
	}
}

func TestExtAuthzHTTP(t *testing.T) {
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer good" && r.URL.Path == "/check/api" && r.Header.Get("X-Route") == "api" {
			w.Header().Set("X-User-Id", "u1")
			w.WriteHeader(200)
			return
		}
		w.Header().Set("X-Reason", "bad token")
		w.WriteHeader(403)
		_, _ = io.WriteString(w, "nope")
	}))
	defer authz.Close()
	x, err := extauthz.New(extauthz.Config{
		Host: authz.URL,
		HTTP: &extauthz.HTTP{
			Path:                   `"/check" + request.path`,
			AddRequestHeaders:      map[string]string{"x-route": `"api"`},
			IncludeResponseHeaders: []string{"x-user-id"},
		},
	})
	require.NoError(t, err)
	defer x.Close()
	var s policytest.Seen
	w := policytest.Do(x, s.Handler(200, ""), policytest.Req("GET", "/api", "Authorization", "Bearer good", "Cookie", "c=1"))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "u1", s.Req.Header.Get("X-User-Id"))
	w = policytest.Do(x, s.Handler(200, ""), policytest.Req("GET", "/api", "Authorization", "Bearer bad"))
	assert.Equal(t, 403, w.Code)
	assert.Equal(t, "nope", w.Body.String())
	assert.Equal(t, "bad token", w.Header().Get("X-Reason"))
}

func TestExtAuthzConfigErrors(t *testing.T) {
	for field, spec := range map[string]extauthz.Config{
		"host":                     {},
		"http":                     {Host: "h:1", GRPC: &extauthz.GRPC{}, HTTP: &extauthz.HTTP{}},
		"http.path":                {Host: "h:1", HTTP: &extauthz.HTTP{Path: "("}},
		"grpc.metadata.ns":         {Host: "h:1", GRPC: &extauthz.GRPC{Metadata: map[string]string{"ns": "nope("}}},
		"includeRequestHeaders[0]": {Host: "h:1", IncludeRequestHeaders: []string{"bad header"}},
		"failureMode":              {Host: "h:1", FailureMode: agentgateway.FailureMode(7)},
		"denyStatus":               {Host: "h:1", DenyStatus: 42},
	} {
		_, err := extauthz.New(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

// Behind a Gateway, HTTP checks go through the gateway's outbound transport hook, unless the config
// names its own client; either way the check reaches the service.
func TestExtAuthzHTTPUsesGatewayTransport(t *testing.T) {
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer authz.Close()
	for _, c := range []struct {
		name   string
		client *http.Client
		want   int32
	}{
		{"default client", nil, 1},
		{"own client", authz.Client(), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hooked atomic.Int32
			wrap := func(rt http.RoundTripper) http.RoundTripper {
				return roundTripFunc(func(r *http.Request) (*http.Response, error) {
					hooked.Add(1)
					return rt.RoundTrip(r)
				})
			}
			x, err := extauthz.New(extauthz.Config{Host: authz.URL, HTTP: &extauthz.HTTP{}, HTTPClient: c.client})
			require.NoError(t, err)
			gw := agentgateway.New(agentgateway.WithTransportWrapper(wrap))
			require.NoError(t, gw.Route("api").PathPrefix("/").Use(x).To(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, policytest.Req("GET", "/"))
			assert.Equal(t, 200, w.Code)
			assert.Equal(t, c.want, hooked.Load())
			require.NoError(t, gw.Close())
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
