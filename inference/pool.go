// Package inference serves a Gateway API Inference Extension InferencePool: for each request the
// gateway asks the pool's endpoint picker (EPP) which model server should take it, over the Envoy
// ext_proc gRPC protocol the Endpoint Picker Protocol is built on, and proxies the request there.
//
// The exchange follows the protocol: the request headers (with pseudo-headers) and the buffered
// body are sent as ext_proc request_headers and request_body messages, with the pool's endpoints as
// the subset hint (metadata namespace "envoy.lb.subset_hint", key
// "x-gateway-destination-endpoint-subset"); the picker answers with the chosen "ip:port" (or a
// comma-separated list, first preferred) in the dynamic metadata namespace "envoy.lb" under key
// "x-gateway-destination-endpoint", or in the header of that name. Header and body mutations it
// returns are applied to the request, and an immediate response it returns is the answer. A chosen
// endpoint that is not a member of the pool is refused, so a picker cannot steer traffic elsewhere,
// unless the pool is in passthrough mode ([PoolConfig].Passthrough), which trusts the picker with any
// "ip:port" (agentgateway's inferenceRouting destinationMode passthrough).
package inference

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/extproc"
)

// Names of the Endpoint Picker Protocol.
const (
	// DestinationKey names the chosen endpoint, in metadata namespace [MetadataNamespace] and as a header.
	DestinationKey = "x-gateway-destination-endpoint"
	// MetadataNamespace is the dynamic metadata namespace the picker answers in.
	MetadataNamespace = "envoy.lb"
	// SubsetKey lists the candidate endpoints, in metadata namespace [SubsetNamespace].
	SubsetKey       = "x-gateway-destination-endpoint-subset"
	SubsetNamespace = "envoy.lb.subset_hint"
)

// DefaultMaxBodyBytes bounds the request body the pool buffers for the picker.
const DefaultMaxBodyBytes = 8 << 20

// DefaultPickTimeout bounds one exchange with the picker.
const DefaultPickTimeout = 10 * time.Second

// ErrPicker marks a failed exchange with the endpoint picker (unreachable, error, no usable answer).
var ErrPicker = errors.New("inference: endpoint picker")

// PoolConfig configures a [Pool].
type PoolConfig struct {
	// Name is recorded as the backend name (State.Backend).
	Name string
	// Endpoints are the pool's model servers, "ip:port"; at least one unless Passthrough is set.
	Endpoints []string
	// Passthrough trusts the picker's choice without checking it against Endpoints: any "ip:port"
	// (an IP literal, not a name) it picks is proxied to. For pickers that know model servers the
	// gateway does not (schema destinationMode passthrough); the default refuses such choices.
	Passthrough bool
	// Picker is the endpoint picker.
	Picker PickerConfig
	// Transport reaches the endpoints (default: each endpoint's own pooled transport).
	Transport http.RoundTripper
	// MaxBodyBytes bounds the buffered request body (default [DefaultMaxBodyBytes]); larger ones get 413.
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// PickerConfig says how to reach the endpoint picker and what to do when it fails.
type PickerConfig struct {
	// Address is the picker's gRPC "host:port".
	Address string
	// FailOpen sends the request to a random pool endpoint when the picker fails; otherwise
	// (FailClose, the Inference Extension's default) the request is answered 503.
	FailOpen bool
	// Timeout bounds each exchange (default [DefaultPickTimeout]).
	Timeout time.Duration
	// TLS, if set, speaks TLS to the picker; nil is plaintext (h2c).
	TLS *tls.Config
	// DialContext, if set, opens the connection to the picker.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Pool is the handler of an InferencePool. It is an io.Closer: Close releases the picker connection.
type Pool struct {
	name      string
	endpoints []string
	backends  map[string]http.Handler
	cfg       PickerConfig
	conn      *grpc.ClientConn
	client    extprocv3.ExternalProcessorClient
	maxBody   int64
	logger    *slog.Logger

	passthrough bool
	transport   http.RoundTripper
	dynMu       sync.Mutex
	dynamic     map[string]*agentgateway.HTTPBackend // passthrough choices outside endpoints
}

// maxDynamicBackends bounds the passthrough backends a pool keeps, so a picker naming ever-new
// addresses cannot grow the gateway's memory (or its idle connections) without bound.
const maxDynamicBackends = 64

// NewPool builds a pool handler; the picker is dialled lazily.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if len(cfg.Endpoints) == 0 && !cfg.Passthrough {
		return nil, fmt.Errorf("inference: pool %q has no endpoints", cfg.Name)
	}
	if cfg.Picker.Address == "" {
		return nil, fmt.Errorf("inference: pool %q has no endpoint picker address", cfg.Name)
	}
	p := &Pool{name: cfg.Name, cfg: cfg.Picker, backends: map[string]http.Handler{}, maxBody: cfg.MaxBodyBytes, logger: cfg.Logger,
		passthrough: cfg.Passthrough, transport: cfg.Transport, dynamic: map[string]*agentgateway.HTTPBackend{}}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxBodyBytes
	}
	if p.cfg.Timeout <= 0 {
		p.cfg.Timeout = DefaultPickTimeout
	}
	if p.logger == nil {
		p.logger = slog.Default()
	}
	for _, ep := range cfg.Endpoints {
		if _, ok := p.backends[ep]; ok {
			continue
		}
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return nil, fmt.Errorf("inference: pool %q: endpoint %q: %w", cfg.Name, ep, err)
		}
		b, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Name: cfg.Name, Endpoints: []string{ep}, Transport: cfg.Transport, EjectAfter: -1})
		if err != nil {
			return nil, fmt.Errorf("inference: pool %q: %w", cfg.Name, err)
		}
		p.backends[ep] = b
		p.endpoints = append(p.endpoints, ep)
	}
	conn, client, err := extproc.Dial(cfg.Picker.Address, cfg.Picker.TLS, cfg.Picker.DialContext)
	if err != nil {
		return nil, fmt.Errorf("inference: pool %q: picker %s: %w", cfg.Name, cfg.Picker.Address, err)
	}
	p.conn, p.client = conn, client
	return p, nil
}

// BackendName names the pool in State.Backend and the access log.
func (p *Pool) BackendName() string { return p.name }

// Close releases the picker connection (and passthrough backends' idle connections).
func (p *Pool) Close() error {
	p.dynMu.Lock()
	for _, b := range p.dynamic {
		_ = b.Close()
	}
	p.dynamic = map[string]*agentgateway.HTTPBackend{}
	p.dynMu.Unlock()
	return p.conn.Close()
}

// dynamicBackend returns the passthrough backend of addr, an "ip:port" outside the pool's endpoints.
func (p *Pool) dynamicBackend(addr string) (http.Handler, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("%q is not an IP address", host)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("bad port %q", port)
	}
	p.dynMu.Lock()
	defer p.dynMu.Unlock()
	if b := p.dynamic[addr]; b != nil {
		return b, nil
	}
	if len(p.dynamic) >= maxDynamicBackends {
		// Evict one; requests in flight on it finish, its idle connections close.
		for k, b := range p.dynamic {
			_ = b.Close()
			delete(p.dynamic, k)
			break
		}
	}
	b, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Name: p.name, Endpoints: []string{net.JoinHostPort(host, port)}, Transport: p.transport, EjectAfter: -1})
	if err != nil {
		return nil, err
	}
	p.dynamic[addr] = b
	return b, nil
}

// ServeHTTP picks an endpoint for the request and proxies it there.
func (p *Pool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			agentgateway.WriteError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		agentgateway.WriteError(w, http.StatusBadRequest, "reading request body")
		return
	}
	out := r.Clone(r.Context())
	res, err := p.pick(r.Context(), out, body)
	switch {
	case err == nil && res.immediate != nil:
		res.immediate.Write(w)
		return
	case err != nil && p.cfg.FailOpen && len(p.endpoints) > 0:
		p.logger.Warn("endpoint picker failed; failing open", "pool", p.name, "error", err)
		ep := p.endpoints[rand.IntN(len(p.endpoints))]
		res = pickResult{endpoint: ep, backend: p.backends[ep], body: body}
	case err != nil:
		p.logger.Warn("endpoint picker failed; failing closed", "pool", p.name, "error", err)
		agentgateway.WriteError(w, http.StatusServiceUnavailable, "no endpoint available")
		return
	}
	out.Body = io.NopCloser(bytes.NewReader(res.body))
	out.ContentLength = int64(len(res.body))
	out.Header.Del("Content-Length")
	out.Header.Del(DestinationKey)
	if res.bodyChanged {
		out.Header.Set("Content-Length", strconv.Itoa(len(res.body)))
	}
	res.backend.ServeHTTP(w, out)
}

type pickResult struct {
	endpoint    string
	backend     http.Handler
	body        []byte
	bodyChanged bool
	immediate   *extproc.Immediate
}

// pick runs one ext_proc exchange; it applies the picker's header mutations to r.
func (p *Pool) pick(ctx context.Context, r *http.Request, body []byte) (pickResult, error) {
	res := pickResult{body: body}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	stream, err := p.client.Process(ctx)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrPicker, err)
	}
	subset := make([]any, len(p.endpoints))
	for i, ep := range p.endpoints {
		subset[i] = ep
	}
	headers := &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: extproc.RequestHeaders(r), EndOfStream: len(body) == 0}},
	}
	// The subset hint is optional in the protocol: a passthrough pool that knows no endpoints sends
	// none, leaving the choice to the picker.
	if len(subset) > 0 {
		hint, err := structpb.NewStruct(map[string]any{SubsetKey: subset})
		if err != nil {
			return res, fmt.Errorf("%w: %w", ErrPicker, err)
		}
		headers.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{SubsetNamespace: hint}}
	}
	if err := stream.Send(headers); err != nil {
		return res, fmt.Errorf("%w: sending headers: %w", ErrPicker, err)
	}
	if len(body) > 0 {
		if err := stream.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: true}}}); err != nil {
			return res, fmt.Errorf("%w: sending body: %w", ErrPicker, err)
		}
	}
	_ = stream.CloseSend()
	var dest string
	gotHeaders, gotBody := false, len(body) == 0
	var answer extproc.BodyResult
	for !gotHeaders || !gotBody {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) && gotHeaders {
			break // a picker that answered the headers and leaves the body as it is
		}
		if err != nil {
			return res, fmt.Errorf("%w: %w", ErrPicker, err)
		}
		if d := metadataDestination(resp.GetDynamicMetadata()); d != "" {
			dest = d
		}
		var common *extprocv3.CommonResponse
		switch m := resp.Response.(type) {
		case *extprocv3.ProcessingResponse_ImmediateResponse:
			res.immediate = extproc.ToImmediate(m.ImmediateResponse)
			return res, nil
		case *extprocv3.ProcessingResponse_RequestHeaders:
			gotHeaders, common = true, m.RequestHeaders.GetResponse()
		case *extprocv3.ProcessingResponse_RequestBody:
			common = m.RequestBody.GetResponse()
			if err := answer.Apply(common.GetBodyMutation()); err != nil {
				return res, fmt.Errorf("%w: %w", ErrPicker, err)
			}
			if answer.Done {
				gotBody = true
				if answer.Changed {
					res.body, res.bodyChanged = answer.Body, true
				}
			}
		default:
			return res, fmt.Errorf("%w: unexpected %T", ErrPicker, resp.Response)
		}
		extproc.ApplyHeaderMutation(r.Header, common.GetHeaderMutation(), func(name, value string) bool {
			if name != DestinationKey {
				return false
			}
			if dest == "" {
				dest = value
			}
			return true
		})
	}
	var badPass error
	for cand := range strings.SplitSeq(dest, ",") {
		cand = strings.TrimSpace(cand)
		if b, ok := p.backends[cand]; ok {
			res.endpoint, res.backend = cand, b
			return res, nil
		}
		if p.passthrough && cand != "" {
			b, err := p.dynamicBackend(cand)
			if err == nil {
				res.endpoint, res.backend = cand, b
				return res, nil
			}
			badPass = cmp.Or(badPass, fmt.Errorf("%w: chose %q: %w", ErrPicker, cand, err))
		}
	}
	switch {
	case dest == "":
		return res, fmt.Errorf("%w: no %s in the answer", ErrPicker, DestinationKey)
	case badPass != nil:
		return res, badPass
	}
	return res, fmt.Errorf("%w: chose %q, which is not an endpoint of the pool", ErrPicker, dest)
}

func metadataDestination(md *structpb.Struct) string {
	return md.GetFields()[MetadataNamespace].GetStructValue().GetFields()[DestinationKey].GetStringValue()
}
