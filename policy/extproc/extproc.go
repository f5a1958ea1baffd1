// Package extproc is the extProc policy: Envoy's external processing protocol
// (envoy.service.ext_proc.v3), one bidirectional gRPC stream per request. It is a package of its own
// so that package policy links no gRPC client.
package extproc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	epc "github.com/agentgw/agentgateway/internal/extproc"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// ErrProcessor is wrapped by every failure of the external processor (unreachable, an error status,
// a timeout, an answer out of order); failureMode decides what the request sees.
var ErrProcessor = errors.New("ext_proc")

// BodyMode says how a body is sent to the external processor.
type BodyMode int

// The body modes of agentgateway's ProcessingOptions.
const (
	// BodyNone does not send the body.
	BodyNone BodyMode = iota
	// BodyBuffered buffers the whole body (up to MaxBodyBytes, else 413) and sends it in one message.
	BodyBuffered
	// BodyBufferedPartial sends at most MaxBodyBytes of the body; the rest follows unprocessed.
	BodyBufferedPartial
	// BodyStreamed is agentgateway's fullDuplexStreamed. Here the body is buffered as in BodyBuffered
	// and sent as the stream's one chunk (end_of_stream set); the processor may answer with a whole
	// body or with streamed_response chunks.
	BodyStreamed
)

// Config configures [New]: an Envoy external processor (envoy.service.ext_proc.v3)
// that sees each request's headers and body and the response's headers, and may change them or
// answer in the upstream's place.
type Config struct {
	// Address is the processor's "host:port" (required).
	Address string
	// TLS, if set, speaks TLS to the processor; nil is plaintext (h2c).
	TLS *tls.Config
	// DialContext, if set, opens the connections to the processor.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// FailureMode is what a processor failure does: FailClosed (the default) answers 500,
	// FailOpen lets the request (or response) through unprocessed.
	FailureMode agentgateway.FailureMode
	// Timeout bounds the wait for each answer of the processor (default 2s).
	Timeout time.Duration
	// MetadataContext is sent as the request's metadata_context.filter_metadata: namespace ->
	// key -> CEL expression, evaluated per request.
	MetadataContext map[string]map[string]string
	// RequestAttributes and ResponseAttributes are sent as the attributes of the request headers
	// and response headers messages (under "envoy.filters.http.ext_proc"): key -> CEL expression.
	RequestAttributes  map[string]string
	ResponseAttributes map[string]string
	// SkipRequestHeaders and SkipResponseHeaders do not send those header blocks.
	SkipRequestHeaders  bool
	SkipResponseHeaders bool
	// RequestBody is how the request body is sent (default BodyNone).
	RequestBody BodyMode
	// MaxBodyBytes bounds a buffered request body (default 2 MiB).
	MaxBodyBytes int64
	// Logger receives failures (default slog.Default()).
	Logger *slog.Logger
}

// attributesNamespace is the key Envoy sends attributes under.
const attributesNamespace = "envoy.filters.http.ext_proc"

// Processor is the extProc policy. It is an io.Closer: Close releases the processor connection.
type Processor struct {
	cfg       Config
	conn      *grpc.ClientConn
	client    extprocv3.ExternalProcessorClient
	metadata  map[string]map[string]*cel.Program
	reqAttrs  map[string]*cel.Program
	respAttrs map[string]*cel.Program
	closeOnce sync.Once
}

// New validates cfg and makes the policy; the processor is dialled lazily.
func New(cfg Config) (*Processor, error) {
	if cfg.Address == "" {
		return nil, agentgateway.Errorf("host", "required")
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, agentgateway.Errorf("host", "want host:port: %w", err)
	}
	if !cfg.FailureMode.Valid() {
		return nil, agentgateway.Errorf("failureMode", "unknown failure mode %v", cfg.FailureMode)
	}
	if cfg.RequestBody < BodyNone || cfg.RequestBody > BodyStreamed {
		return nil, agentgateway.Errorf("processingOptions.requestBodyMode", "unknown body mode %d", cfg.RequestBody)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 2 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	x := &Processor{cfg: cfg, metadata: map[string]map[string]*cel.Program{}}
	for ns, kv := range cfg.MetadataContext {
		x.metadata[ns] = map[string]*cel.Program{}
		for k, e := range kv {
			p, err := cel.Compile(e, nil)
			if err != nil {
				return nil, agentgateway.Errorf("metadataContext."+ns+"."+k, "%w", err)
			}
			x.metadata[ns][k] = p
		}
	}
	var err error
	if x.reqAttrs, err = compileAll("requestAttributes", cfg.RequestAttributes); err != nil {
		return nil, err
	}
	if x.respAttrs, err = compileAll("responseAttributes", cfg.ResponseAttributes); err != nil {
		return nil, err
	}
	x.conn, x.client, err = epc.Dial(cfg.Address, cfg.TLS, cfg.DialContext)
	if err != nil {
		return nil, agentgateway.Errorf("host", "%w", err)
	}
	return x, nil
}

func compileAll(field string, m map[string]string) (map[string]*cel.Program, error) {
	out := map[string]*cel.Program{}
	for k, e := range m {
		p, err := cel.Compile(e, nil)
		if err != nil {
			return nil, agentgateway.Errorf(field+"."+k, "%w", err)
		}
		out[k] = p
	}
	return out, nil
}

// Close releases the processor connection.
func (x *Processor) Close() error {
	var err error
	x.closeOnce.Do(func() { err = x.conn.Close() })
	return err
}

// Phase is agentgateway.PhaseTransformation: the processor sees the request as authentication and
// the filters left it, and its changes reach the later phases and the backend.
func (*Processor) Phase() agentgateway.Phase { return agentgateway.PhaseTransformation }

// Wrap runs one ext_proc stream per request around next.
func (x *Processor) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { x.serve(w, r, next) })
}

// session is one request's stream. A nil stream means processing is over (the processor closed the
// stream, or failed open): the rest of the exchange passes through.
type session struct {
	x      *Processor
	stream grpc.BidiStreamingClient[extprocv3.ProcessingRequest, extprocv3.ProcessingResponse]
	cancel context.CancelFunc
	act    *cel.Activation
}

func (x *Processor) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	// The stream lives as long as the request: a client that goes away cancels it.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stream, err := x.client.Process(ctx)
	if err != nil {
		if x.fail(w, r, fmt.Errorf("%w: %w", ErrProcessor, err)) {
			next.ServeHTTP(w, r)
		}
		return
	}
	s := &session{x: x, stream: stream, cancel: cancel, act: cel.NewActivation(r, nil)}
	out, ok := s.request(w, r)
	if !ok {
		return
	}
	if s.stream == nil || x.cfg.SkipResponseHeaders {
		s.end()
		next.ServeHTTP(w, out)
		return
	}
	rw := &responseWriter{ResponseWriter: w, s: s, r: out}
	next.ServeHTTP(rw, out)
	if !rw.decided {
		rw.decide(http.StatusOK)
	}
	s.end()
}

// end closes the stream's sending side; the deferred cancel releases it.
func (s *session) end() {
	if s.stream != nil {
		_ = s.stream.CloseSend()
		s.stream = nil
	}
}

// fail answers a processor failure by the failure mode: it reports whether the request goes on.
func (x *Processor) fail(w http.ResponseWriter, r *http.Request, err error) bool {
	if x.cfg.FailureMode == agentgateway.FailOpen {
		x.cfg.Logger.Warn("ext_proc failed; failing open", "error", err)
		return true
	}
	x.cfg.Logger.Warn("ext_proc failed; failing closed", "error", err)
	if st, _ := policyutil.StateOf(r); st != nil && st.Err == nil {
		st.Err = err
	}
	agentgateway.WriteError(w, http.StatusInternalServerError, "external processing failed")
	return false
}

// exchange sends req and waits (up to the timeout) for the answer. A processor that closes the
// stream cleanly is done: (nil, nil).
func (s *session) exchange(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	if err := s.stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: send: %w", ErrProcessor, err)
	}
	t := time.AfterFunc(s.x.cfg.Timeout, s.cancel)
	resp, err := s.stream.Recv()
	if !t.Stop() {
		return nil, fmt.Errorf("%w: no answer within %v", ErrProcessor, s.x.cfg.Timeout)
	}
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProcessor, err)
	}
	return resp, nil
}

// request runs the request phase and returns the request to forward; false means the response has
// been written (an immediate response, or a failure closed).
func (s *session) request(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	x := s.x
	out := r.Clone(r.Context())
	out.Header = r.Header.Clone()
	var body []byte
	var rest io.Reader // what follows a partial body
	sendBody := x.cfg.RequestBody != BodyNone && r.Body != nil && r.Body != http.NoBody
	if sendBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, x.cfg.MaxBodyBytes+1))
		if err != nil {
			agentgateway.WriteError(w, http.StatusBadRequest, "reading request body")
			return nil, false
		}
		if int64(len(b)) > x.cfg.MaxBodyBytes {
			if x.cfg.RequestBody != BodyBufferedPartial {
				agentgateway.WriteError(w, http.StatusRequestEntityTooLarge, "request body too large")
				return nil, false
			}
			b, rest = b[:x.cfg.MaxBodyBytes], io.MultiReader(bytes.NewReader(b[x.cfg.MaxBodyBytes:]), r.Body)
		}
		body = b
		sendBody = len(b) > 0
	}
	noBody := r.Body == nil || r.Body == http.NoBody
	replaced := false
	first := true
	metadata := func(req *extprocv3.ProcessingRequest) {
		if !first {
			return
		}
		first = false
		req.MetadataContext = s.metadataContext(r)
		if a := s.attributes(r, x.reqAttrs); a != nil {
			req.Attributes = a
		}
	}
	handle := func(resp *extprocv3.ProcessingResponse, err error) bool {
		if err != nil {
			s.stream = nil
			return x.fail(w, r, err)
		}
		if resp == nil { // the processor is done
			s.stream = nil
			return true
		}
		var common *extprocv3.CommonResponse
		switch m := resp.Response.(type) {
		case *extprocv3.ProcessingResponse_ImmediateResponse:
			epc.ToImmediate(m.ImmediateResponse).Write(w)
			return false
		case *extprocv3.ProcessingResponse_RequestHeaders:
			common = m.RequestHeaders.GetResponse()
			// CONTINUE_AND_REPLACE answers the headers with the body to forward: the body is not sent.
			if common.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE && common.GetBodyMutation() != nil {
				var br epc.BodyResult
				if err := br.Apply(common.GetBodyMutation()); err == nil && br.Changed {
					body, sendBody, rest, replaced = br.Body, false, nil, true
				}
			}
		case *extprocv3.ProcessingResponse_RequestBody:
			common = m.RequestBody.GetResponse()
			var br epc.BodyResult
			for {
				if err := br.Apply(common.GetBodyMutation()); err != nil {
					s.stream = nil
					return x.fail(w, r, fmt.Errorf("%w: %w", ErrProcessor, err))
				}
				if br.Done {
					break
				}
				// More streamed_response chunks follow.
				t := time.AfterFunc(x.cfg.Timeout, s.cancel)
				next, err := s.stream.Recv()
				stopped := t.Stop()
				if err != nil || !stopped {
					s.stream = nil
					return x.fail(w, r, fmt.Errorf("%w: streamed body: %v", ErrProcessor, cmpErr(err, stopped)))
				}
				rb, ok := next.Response.(*extprocv3.ProcessingResponse_RequestBody)
				if !ok {
					s.stream = nil
					return x.fail(w, r, fmt.Errorf("%w: unexpected %T while streaming the body", ErrProcessor, next.Response))
				}
				common = rb.RequestBody.GetResponse()
			}
			if br.Changed {
				body = br.Body
			}
		default:
			s.stream = nil
			return x.fail(w, r, fmt.Errorf("%w: unexpected %T in the request phase", ErrProcessor, resp.Response))
		}
		epc.ApplyHeaderMutation(out.Header, common.GetHeaderMutation(), nil)
		return true
	}
	if !x.cfg.SkipRequestHeaders {
		req := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
			RequestHeaders: &extprocv3.HttpHeaders{Headers: epc.RequestHeaders(r), EndOfStream: noBody || (x.cfg.RequestBody != BodyNone && !sendBody)}}}
		metadata(req)
		if !handle(s.exchange(req)) {
			return nil, false
		}
	}
	if sendBody && s.stream != nil {
		req := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
			RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: rest == nil}}}
		metadata(req)
		if !handle(s.exchange(req)) {
			return nil, false
		}
	}
	if (x.cfg.RequestBody != BodyNone && !noBody) || replaced {
		var rd io.Reader = bytes.NewReader(body)
		n := int64(len(body))
		if rest != nil {
			rd, n = io.MultiReader(rd, rest), -1
		}
		out.Body, out.ContentLength = io.NopCloser(rd), n
		out.Header.Del("Content-Length")
		if n >= 0 {
			out.Header.Set("Content-Length", strconv.FormatInt(n, 10))
		}
	}
	return out, true
}

func cmpErr(err error, stopped bool) error {
	if !stopped {
		return errors.New("timed out")
	}
	return err
}

// metadataContext evaluates metadataContext for r; expressions that fail to evaluate are left out.
func (s *session) metadataContext(r *http.Request) *corev3.Metadata {
	if len(s.x.metadata) == 0 {
		return nil
	}
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for ns, kv := range s.x.metadata {
		st := s.evalStruct(r, kv)
		md.FilterMetadata[ns] = st
	}
	return md
}

func (s *session) attributes(r *http.Request, progs map[string]*cel.Program) map[string]*structpb.Struct {
	if len(progs) == 0 {
		return nil
	}
	return map[string]*structpb.Struct{attributesNamespace: s.evalStruct(r, progs)}
}

func (s *session) evalStruct(r *http.Request, progs map[string]*cel.Program) *structpb.Struct {
	st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, p := range progs {
		v, err := p.Eval(r.Context(), s.act)
		if err != nil {
			s.x.cfg.Logger.Debug("ext_proc: expression failed", "key", k, "error", err)
			continue
		}
		pv, err := structpb.NewValue(cel.Native(v))
		if err != nil {
			pv = structpb.NewStringValue(fmt.Sprint(cel.Native(v)))
		}
		st.Fields[k] = pv
	}
	return st
}

// responseWriter holds the upstream's response header until the processor has seen it.
type responseWriter struct {
	http.ResponseWriter
	s       *session
	r       *http.Request
	decided bool
	discard bool // the processor answered in the upstream's place, or failed closed
}

// decide runs the response headers exchange before the status line is written.
func (w *responseWriter) decide(status int) {
	w.decided = true
	s := w.s
	if s.stream == nil {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	req := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: &extprocv3.HttpHeaders{Headers: epc.ResponseHeaders(status, w.Header())}}}
	if a := s.attributes(w.r, s.x.respAttrs); a != nil {
		req.Attributes = a
	}
	resp, err := s.exchange(req)
	s.end()
	switch {
	case err != nil:
		if !w.fail(err) {
			return
		}
	case resp == nil:
	default:
		switch m := resp.Response.(type) {
		case *extprocv3.ProcessingResponse_ImmediateResponse:
			clear(w.Header())
			epc.ToImmediate(m.ImmediateResponse).Write(w.ResponseWriter)
			w.discard = true
			return
		case *extprocv3.ProcessingResponse_ResponseHeaders:
			epc.ApplyHeaderMutation(w.Header(), m.ResponseHeaders.GetResponse().GetHeaderMutation(), func(name, value string) bool {
				if name == ":status" {
					if n, err := strconv.Atoi(value); err == nil && n >= 200 && n <= 599 {
						status = n
					}
					return true
				}
				return false
			})
		default:
			if !w.fail(fmt.Errorf("%w: unexpected %T in the response phase", ErrProcessor, resp.Response)) {
				return
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// fail handles a response-phase failure; it reports whether the upstream's response goes on. Failing
// closed drops the upstream's headers too: its Content-Length does not describe the error's body.
func (w *responseWriter) fail(err error) bool {
	if w.s.x.cfg.FailureMode != agentgateway.FailOpen {
		clear(w.Header())
		w.discard = true
	}
	return w.s.x.fail(w.ResponseWriter, w.r, err)
}

// WriteHeader sends the status to the processor first.
func (w *responseWriter) WriteHeader(status int) {
	if w.decided {
		return
	}
	if status >= 100 && status < 200 {
		w.ResponseWriter.WriteHeader(status) // informational: not the response's header
		return
	}
	w.decide(status)
}

// Write writes the body (or drops it when the processor replaced the response).
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.decided {
		w.decide(http.StatusOK)
	}
	if w.discard {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Flush flushes the header exchange and the underlying writer.
func (w *responseWriter) Flush() {
	if !w.decided {
		w.decide(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.discard {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
