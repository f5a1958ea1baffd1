package extproc_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/extproc"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type procStream = grpc.BidiStreamingServer[extprocv3.ProcessingRequest, extprocv3.ProcessingResponse]

// scripted is an ext_proc server that runs one function per stream.
type scripted struct {
	extprocv3.UnimplementedExternalProcessorServer
	run func(procStream) error
}

func (s *scripted) Process(st procStream) error { return s.run(st) }

func newExtProc(t *testing.T, cfg extproc.Config, run func(procStream) error) agentgateway.Policy {
	t.Helper()
	if run != nil {
		cfg.Address = policytest.StartGRPC(t, func(g *grpc.Server) { extprocv3.RegisterExternalProcessorServer(g, &scripted{run: run}) })
	}
	x, err := extproc.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = x.Close() })
	return x
}

// bodyUpstream answers "body=<body> len=<Content-Length>" with status 201 and header X-Up.
var bodyUpstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	out := "body=" + string(b) + " len=" + r.Header.Get("Content-Length")
	w.Header().Set("X-Up", "1")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(201)
	_, _ = io.WriteString(w, out)
})

func headersOK() *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{}}}
}

func streamed(chunk string, eos bool) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{
		BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_StreamedResponse{StreamedResponse: &extprocv3.StreamedBodyResponse{Body: []byte(chunk), EndOfStream: eos}}}}}}}
}

// A fullDuplexStreamed processor may answer the body in several streamed_response chunks: the
// upstream gets their concatenation, with a Content-Length that matches it.
func TestExtProcStreamedBodyChunks(t *testing.T) {
	x := newExtProc(t, extproc.Config{RequestBody: extproc.BodyStreamed, SkipResponseHeaders: true}, func(s procStream) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		_ = s.Send(headersOK())
		req, err := s.Recv()
		if err != nil || !req.GetRequestBody().GetEndOfStream() {
			return errors.New("want the whole body")
		}
		_ = s.Send(streamed("red", false))
		return s.Send(streamed("acted!", true))
	})
	rec := policytest.Do(x, bodyUpstream, policytest.ReqBody("POST", "/", "secret"))
	assert.Equal(t, 201, rec.Code)
	assert.Equal(t, "body=redacted! len=9", rec.Body.String())
}

// A processor that closes its stream after the request headers is done: the rest passes through.
func TestExtProcProcessorEndsStream(t *testing.T) {
	x := newExtProc(t, extproc.Config{}, func(s procStream) error {
		if _, err := s.Recv(); err != nil {
			return err
		}
		return s.Send(headersOK())
	})
	rec := policytest.Do(x, bodyUpstream, policytest.ReqBody("POST", "/", "data"))
	assert.Equal(t, 201, rec.Code)
	assert.Equal(t, "body=data len=", rec.Body.String(), "the body is forwarded as it came")
}

// An immediate response to the response headers replaces the upstream's response entirely.
func TestExtProcResponseImmediate(t *testing.T) {
	x := newExtProc(t, extproc.Config{}, func(s procStream) error {
		for {
			req, err := s.Recv()
			if err != nil {
				return nil
			}
			if req.GetResponseHeaders() != nil {
				return s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
					Status: &typev3.HttpStatus{Code: typev3.StatusCode_BadGateway}, Body: []byte("scrubbed")}}})
			}
			_ = s.Send(headersOK())
		}
	})
	rec := policytest.Do(x, bodyUpstream, policytest.Req("GET", "/"))
	assert.Equal(t, 502, rec.Code)
	assert.Equal(t, "scrubbed", rec.Body.String())
	assert.Empty(t, rec.Header().Get("X-Up"), "the upstream's headers are dropped")
}

// A processor that fails on the response: failClosed answers 500 without the upstream's body,
// failOpen delivers the response as it is.
func TestExtProcResponsePhaseFailure(t *testing.T) {
	run := func(s procStream) error {
		for {
			req, err := s.Recv()
			if err != nil {
				return nil
			}
			if req.GetResponseHeaders() != nil {
				return errors.New("processor broke")
			}
			_ = s.Send(headersOK())
		}
	}
	rec := policytest.Do(newExtProc(t, extproc.Config{}, run), bodyUpstream, policytest.Req("GET", "/"))
	assert.Equal(t, 500, rec.Code)
	assert.NotContains(t, rec.Body.String(), "body=")
	assert.Empty(t, rec.Header().Get("X-Up"), "the upstream's headers are dropped")
	assert.NotEqual(t, "11", rec.Header().Get("Content-Length"), "the upstream's framing is dropped")
	rec = policytest.Do(newExtProc(t, extproc.Config{FailureMode: agentgateway.FailOpen}, run), bodyUpstream, policytest.Req("GET", "/"))
	assert.Equal(t, 201, rec.Code)
	assert.Equal(t, "body= len=", rec.Body.String())
}

// A processor that never answers fails the request once the timeout passes (failOpen: it goes on).
func TestExtProcTimeout(t *testing.T) {
	run := func(s procStream) error { <-s.Context().Done(); return nil }
	rec := policytest.Do(newExtProc(t, extproc.Config{Timeout: 20 * time.Millisecond}, run), bodyUpstream, policytest.Req("GET", "/"))
	assert.Equal(t, 500, rec.Code)
	rec = policytest.Do(newExtProc(t, extproc.Config{Timeout: 20 * time.Millisecond, FailureMode: agentgateway.FailOpen}, run), bodyUpstream, policytest.Req("GET", "/"))
	assert.Equal(t, 201, rec.Code)
}

// Bodies beyond MaxBodyBytes: buffered refuses them (413); bufferedPartial sends the first
// MaxBodyBytes and forwards the whole body.
func TestExtProcBodyLimits(t *testing.T) {
	var mu sync.Mutex
	var sent string
	run := func(s procStream) error {
		for {
			req, err := s.Recv()
			if err != nil {
				return nil
			}
			switch {
			case req.GetRequestBody() != nil:
				mu.Lock()
				sent = string(req.GetRequestBody().GetBody())
				mu.Unlock()
				_ = s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}})
			case req.GetResponseHeaders() != nil:
				_ = s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}})
			default:
				_ = s.Send(headersOK())
			}
		}
	}
	rec := policytest.Do(newExtProc(t, extproc.Config{RequestBody: extproc.BodyBuffered, MaxBodyBytes: 4}, run), bodyUpstream, policytest.ReqBody("POST", "/", "0123456789"))
	assert.Equal(t, 413, rec.Code)
	rec = policytest.Do(newExtProc(t, extproc.Config{RequestBody: extproc.BodyBufferedPartial, MaxBodyBytes: 4}, run), bodyUpstream, policytest.ReqBody("POST", "/", "0123456789"))
	assert.Equal(t, 201, rec.Code)
	assert.Equal(t, "body=0123456789 len=", rec.Body.String())
	mu.Lock()
	assert.Equal(t, "0123", sent)
	mu.Unlock()
}

// The response headers mutation may change the status (":status") and set headers; framing and
// other pseudo-headers are never taken from the processor.
func TestExtProcResponseHeaderMutation(t *testing.T) {
	x := newExtProc(t, extproc.Config{}, func(s procStream) error {
		for {
			req, err := s.Recv()
			if err != nil {
				return nil
			}
			if req.GetResponseHeaders() == nil {
				_ = s.Send(headersOK())
				continue
			}
			set := func(k, v string) *corev3.HeaderValueOption {
				return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, RawValue: []byte(v)}}
			}
			_ = s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{
				Response: &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{
					SetHeaders:    []*corev3.HeaderValueOption{set(":status", "203"), set("x-added", "v"), set("content-length", "999")},
					RemoveHeaders: []string{"x-up"}}}}}})
		}
	})
	srv := httptest.NewServer(x.Wrap(bodyUpstream))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 203, resp.StatusCode)
	assert.Equal(t, "v", resp.Header.Get("X-Added"))
	assert.Empty(t, resp.Header.Get("X-Up"))
	assert.True(t, strings.HasPrefix(string(b), "body="), "content-length from the processor is ignored")
}

func TestExtProcConfigErrors(t *testing.T) {
	_, err := extproc.New(extproc.Config{})
	assert.ErrorContains(t, err, "host")
	_, err = extproc.New(extproc.Config{Address: "h:1", MetadataContext: map[string]map[string]string{"ns": {"k": "request.("}}})
	assert.ErrorContains(t, err, "metadataContext.ns.k")
}
