package inference_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/agentgw/agentgateway/inference"
)

// epp is an endpoint picker written from the Endpoint Picker Protocol: it reads the request headers
// and body, picks an endpoint from the subset hint by the request's model, and answers with the
// header response (destination header + dynamic metadata) and a body response that rewrites the model.
type epp struct {
	extprocv3.UnimplementedExternalProcessorServer
	choose func(model string, subset []string) string // "" answers an immediate 429
	mu     sync.Mutex
	seen   []string // the subsets offered
}

func (e *epp) Process(s grpc.BidiStreamingServer[extprocv3.ProcessingRequest, extprocv3.ProcessingResponse]) error {
	var (
		subset []string
		body   []byte
	)
	for {
		req, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hint := req.GetMetadataContext().GetFilterMetadata()[inference.SubsetNamespace]; hint != nil {
			for _, v := range hint.GetFields()[inference.SubsetKey].GetListValue().GetValues() {
				subset = append(subset, v.GetStringValue())
			}
		}
		switch m := req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			if !m.RequestHeaders.GetEndOfStream() {
				continue // answer once the body is in, as a streaming EPP does
			}
		case *extprocv3.ProcessingRequest_RequestBody:
			body = append(body, m.RequestBody.GetBody()...)
			if !m.RequestBody.GetEndOfStream() {
				continue
			}
		}
		var in struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(body, &in)
		e.mu.Lock()
		e.seen = append(e.seen, strings.Join(subset, ","))
		e.mu.Unlock()
		dest := e.choose(in.Model, subset)
		if dest == "" {
			return s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests}, Body: []byte("pool saturated")}}})
		}
		md, _ := structpb.NewStruct(map[string]any{inference.MetadataNamespace: map[string]any{inference.DestinationKey: dest}})
		hdr := &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: inference.DestinationKey, RawValue: []byte(dest)}},
			{Header: &corev3.HeaderValue{Key: "x-picked-by", RawValue: []byte("test-epp")}},
		}}
		if err := s.Send(&extprocv3.ProcessingResponse{DynamicMetadata: md, Response: &extprocv3.ProcessingResponse_RequestHeaders{
			RequestHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{HeaderMutation: hdr}}}}); err != nil {
			return err
		}
		if len(body) == 0 {
			continue
		}
		rewritten := strings.Replace(string(body), in.Model, in.Model+"-served", 1)
		if err := s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{
			Response: &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_StreamedResponse{
				StreamedResponse: &extprocv3.StreamedBodyResponse{Body: []byte(rewritten), EndOfStream: true}}}}}}}); err != nil {
			return err
		}
	}
}

func startEPP(t *testing.T, e *epp) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(s, e)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

type seen struct {
	Server string `json:"server"`
	Model  string `json:"model"`
	Picked string `json:"picked"`
}

// modelServers starts three model-server stubs answering with their name and what they received.
func modelServers(t *testing.T) []string {
	t.Helper()
	var eps []string
	for _, name := range []string{"ms-0", "ms-1", "ms-2"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var in struct {
				Model string `json:"model"`
			}
			_ = json.NewDecoder(r.Body).Decode(&in)
			_ = json.NewEncoder(w).Encode(seen{Server: name, Model: in.Model, Picked: r.Header.Get("x-picked-by")})
		}))
		t.Cleanup(srv.Close)
		eps = append(eps, srv.Listener.Addr().String())
	}
	return eps
}

func newPool(t *testing.T, eps []string, picker string, failOpen bool) http.Handler {
	t.Helper()
	p, err := inference.NewPool(inference.PoolConfig{Name: "pool", Endpoints: eps, Logger: slog.New(slog.DiscardHandler),
		Picker: inference.PickerConfig{Address: picker, FailOpen: failOpen, Timeout: 5 * time.Second}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func call(t *testing.T, h http.Handler, model string) (int, seen, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://gw/v1/completions", strings.NewReader(`{"model":"`+model+`","prompt":"hi"}`)))
	var s seen
	if rec.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &s))
	}
	return rec.Code, s, rec.Body.String()
}

// The picker's choice is honoured, for every endpoint it picks; its header and body mutations
// reach the model server; it was offered the pool's endpoints as the subset.
func TestPickerChoiceIsHonoured(t *testing.T) {
	eps := modelServers(t)
	e := &epp{choose: func(model string, subset []string) string {
		switch model {
		case "a":
			return subset[2]
		case "b":
			return subset[0]
		}
		return subset[1]
	}}
	pool := newPool(t, eps, startEPP(t, e), false)
	for model, want := range map[string]string{"a": "ms-2", "b": "ms-0", "c": "ms-1"} {
		for range 3 {
			code, s, body := call(t, pool, model)
			require.Equal(t, http.StatusOK, code, body)
			require.Equal(t, want, s.Server, "model %s", model)
			require.Equal(t, model+"-served", s.Model, "the picker's body mutation")
			require.Equal(t, "test-epp", s.Picked, "the picker's header mutation")
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Equal(t, strings.Join(eps, ","), e.seen[0])
}

// A picker that chooses an address outside the pool is a picker failure: a request is never sent
// where the pool's endpoints are not.
func TestPickerChoiceOutsidePoolIsRefused(t *testing.T) {
	eps := modelServers(t)
	pool := newPool(t, eps, startEPP(t, &epp{choose: func(string, []string) string { return "169.254.169.254:80" }}), false)
	code, _, _ := call(t, pool, "a")
	require.Equal(t, http.StatusServiceUnavailable, code)
}

// The picker's immediate response (e.g. 429 when the pool is saturated) is the answer.
func TestPickerImmediateResponse(t *testing.T) {
	pool := newPool(t, modelServers(t), startEPP(t, &epp{choose: func(string, []string) string { return "" }}), false)
	code, _, body := call(t, pool, "a")
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Equal(t, "pool saturated", body)
}

// With the picker down, a fail-open pool sends requests to its endpoints anyway and a fail-closed
// pool answers 503.
func TestPickerDownFailOpenAndFailClosed(t *testing.T) {
	eps := modelServers(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := ln.Addr().String()
	require.NoError(t, ln.Close())

	open := newPool(t, eps, down, true)
	servers := map[string]bool{}
	for range 30 {
		code, s, body := call(t, open, "a")
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, "a", s.Model, "no picker, no rewrite")
		servers[s.Server] = true
	}
	require.Greater(t, len(servers), 1, "fail-open spreads over the pool")

	closed := newPool(t, eps, down, false)
	code, _, _ := call(t, closed, "a")
	require.Equal(t, http.StatusServiceUnavailable, code)
}

// Passthrough (destinationMode passthrough) trusts the picker: a model server the pool does not
// list is served; with no endpoints known locally no subset hint is offered; a choice that is not
// an "ip:port" is still a picker failure (503), never a DNS lookup.
func TestPassthroughTrustsThePicker(t *testing.T) {
	eps := modelServers(t)
	var outside atomic.Value
	outside.Store(eps[2])
	e := &epp{choose: func(string, []string) string { return outside.Load().(string) }}
	addr := startEPP(t, e)
	p, err := inference.NewPool(inference.PoolConfig{Name: "pool", Endpoints: eps[:1], Passthrough: true, Logger: slog.New(slog.DiscardHandler),
		Picker: inference.PickerConfig{Address: addr, Timeout: 5 * time.Second}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	for range 2 {
		code, s, body := call(t, p, "a")
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, "ms-2", s.Server, "the picker's choice outside the pool is honoured")
		require.Equal(t, "a-served", s.Model)
	}
	outside.Store("models.example:80")
	code, _, _ := call(t, p, "a")
	require.Equal(t, http.StatusServiceUnavailable, code, "a name is not an ip:port")

	outside.Store(eps[1])
	none, err := inference.NewPool(inference.PoolConfig{Name: "pool", Passthrough: true, Logger: slog.New(slog.DiscardHandler),
		Picker: inference.PickerConfig{Address: addr, FailOpen: true, Timeout: 5 * time.Second}})
	require.NoError(t, err, "a passthrough pool needs no local endpoints")
	t.Cleanup(func() { _ = none.Close() })
	code, s, body := call(t, none, "b")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "ms-1", s.Server)
	e.mu.Lock()
	require.Equal(t, "", e.seen[len(e.seen)-1], "no subset hint without local endpoints")
	e.mu.Unlock()

	_, err = inference.NewPool(inference.PoolConfig{Name: "pool", Picker: inference.PickerConfig{Address: addr}})
	require.ErrorContains(t, err, "no endpoints", "validated mode still needs endpoints")
}

// A passthrough pool keeps a bounded number of backends for outside choices however many distinct
// addresses its picker names.
func TestPassthroughBackendsAreBounded(t *testing.T) {
	var n atomic.Int32
	// Every request names a new address (port 9 on loopback: nothing listens, the proxy answers 502).
	e := &epp{choose: func(string, []string) string { return fmt.Sprintf("127.0.%d.%d:9", n.Load()/250, 1+n.Add(1)%250) }}
	p, err := inference.NewPool(inference.PoolConfig{Name: "pool", Passthrough: true, Logger: slog.New(slog.DiscardHandler),
		Picker: inference.PickerConfig{Address: startEPP(t, e), Timeout: 5 * time.Second}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	for range 100 {
		code, _, body := call(t, p, "a")
		require.Equal(t, http.StatusBadGateway, code, "the choice is tried, not refused: %s", body)
	}
	require.LessOrEqual(t, inference.DynamicBackends(p), 64)
}
