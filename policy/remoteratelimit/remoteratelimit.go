// Package remoteratelimit is agentgateway's `remoteRateLimit` policy: limits kept by a rate-limit
// service speaking Envoy's RLS protocol, shared by every gateway replica. It lives apart from package
// policy so that programs that do not use it do not link gRPC and the Envoy protos.
package remoteratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// Config configures the remote rate limit (agentgateway's `remoteRateLimit`): limits kept by a
// rate-limit service speaking Envoy's RLS protocol
// (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit), such as envoyproxy/ratelimit backed
// by Redis, so every gateway replica shares them.
type Config struct {
	// Host is the service's "host:port". The config package resolves the schema's service references
	// into it.
	Host string
	// Domain is the RLS domain.
	Domain string
	// Descriptors are sent in one request; each entry's value is a CEL expression. A descriptor
	// whose expressions fail to evaluate is skipped.
	Descriptors []Descriptor
	// FailureMode applies when the service fails: FailClosed (the zero value) answers 500, FailOpen
	// lets the request through.
	FailureMode agentgateway.FailureMode
	// Timeout bounds each call (default 1s).
	Timeout time.Duration
}

// Descriptor is one rate-limit descriptor: request hits counted against the entries' values.
type Descriptor struct {
	Entries []DescriptorKV
	// Cost is a CEL expression for the hits this request counts for (default 1).
	Cost string
}

// DescriptorKV is a descriptor entry: Key and a CEL Value.
type DescriptorKV struct {
	Key   string
	Value string
}

type compiledDescriptor struct {
	keys   []string
	values []*cel.Program
	cost   *cel.Program
}

// Limiter is a compiled remote rate limit; Close releases its connection.
type Limiter struct {
	domain    string
	desc      []compiledDescriptor
	conn      *grpc.ClientConn
	closeOnce sync.Once
	closeErr  error
	client    rlsv3.RateLimitServiceClient
	failOpen  bool
	timeout   time.Duration
	callout   policyutil.Callout // the calls' spans
}

// ErrService is recorded in State.Err when the rate-limit service fails.
var ErrService = errors.New("rate limit service failed")

// New validates cfg and prepares the client (connections are made on first use).
func New(cfg Config) (*Limiter, error) {
	switch {
	case cfg.Host == "":
		return nil, agentgateway.Errorf("host", "required")
	case cfg.Domain == "":
		return nil, agentgateway.Errorf("domain", "required")
	case len(cfg.Descriptors) == 0:
		return nil, agentgateway.Errorf("descriptors", "at least one descriptor is required")
	case !cfg.FailureMode.Valid():
		return nil, agentgateway.Errorf("failureMode", "unknown failure mode %v", cfg.FailureMode)
	}
	rl := &Limiter{domain: cfg.Domain, timeout: cfg.Timeout, failOpen: cfg.FailureMode == agentgateway.FailOpen}
	if rl.timeout <= 0 {
		rl.timeout = time.Second
	}
	for i, d := range cfg.Descriptors {
		if len(d.Entries) == 0 {
			return nil, agentgateway.Errorf(policyutil.Field("descriptors", i, "entries"), "at least one entry is required")
		}
		var cd compiledDescriptor
		for j, e := range d.Entries {
			if e.Key == "" {
				return nil, agentgateway.Errorf(policyutil.Field("descriptors", i, fmt.Sprintf("entries[%d].key", j)), "required")
			}
			p, err := cel.Compile(e.Value, nil)
			if err != nil {
				return nil, agentgateway.Errorf(policyutil.Field("descriptors", i, fmt.Sprintf("entries[%d].value", j)), "%w", err)
			}
			cd.keys = append(cd.keys, e.Key)
			cd.values = append(cd.values, p)
		}
		if d.Cost != "" {
			p, err := cel.Compile(d.Cost, nil)
			if err != nil {
				return nil, agentgateway.Errorf(policyutil.Field("descriptors", i, "cost"), "%w", err)
			}
			cd.cost = p
		}
		rl.desc = append(rl.desc, cd)
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(cfg.Host, "grpc://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, agentgateway.Errorf("host", "%w", err)
	}
	rl.conn, rl.client = conn, rlsv3.NewRateLimitServiceClient(conn)
	return rl, nil
}

// Close closes the connection.
func (rl *Limiter) Close() error {
	rl.closeOnce.Do(func() { rl.closeErr = rl.conn.Close() })
	return rl.closeErr
}

// Provision implements [agentgateway.Provisioner]: each call to the service runs in a client span of
// the gateway's tracer provider, whose trace context the service receives in gRPC metadata.
func (rl *Limiter) Provision(svc agentgateway.Services) error {
	rl.callout.Provision(svc)
	return nil
}

// Phase is agentgateway.PhaseRateLimit.
func (*Limiter) Phase() agentgateway.Phase { return agentgateway.PhaseRateLimit }

// Wrap answers 429 (with the service's headers) when the service says the request is over the limit.
func (rl *Limiter) Wrap(next http.Handler) http.Handler {
	return rl.wrap(next, false, writeHTTPRefusal)
}

// refusal writes the limiter's answer to a refused request: 429 over the limit, 500 when the
// service failed closed (the service's rate-limit headers are already set on w).
type refusal func(w http.ResponseWriter, r *http.Request, status int, msg string)

func writeHTTPRefusal(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	agentgateway.WriteError(w, status, msg)
}

// wrap is Wrap answering refusals with refuse; with skipEmpty a descriptor with an entry evaluating
// to "" is skipped as one that fails to evaluate (an MCP field the call does not have, mcp.go).
func (rl *Limiter) wrap(next http.Handler, skipEmpty bool, refuse refusal) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		act := cel.NewActivation(r, nil)
		req := &rlsv3.RateLimitRequest{Domain: rl.domain}
		for _, d := range rl.desc {
			desc := &rlcommon.RateLimitDescriptor{}
			ok := true
			for i, p := range d.values {
				v, err := p.EvalString(r.Context(), act)
				if err != nil || (skipEmpty && v == "") {
					ok = false
					break
				}
				desc.Entries = append(desc.Entries, &rlcommon.RateLimitDescriptor_Entry{Key: d.keys[i], Value: v})
			}
			if !ok {
				continue
			}
			if d.cost != nil {
				s, err := d.cost.EvalString(r.Context(), act)
				n, perr := strconv.ParseUint(s, 10, 64)
				if err != nil || perr != nil {
					continue
				}
				desc.HitsAddend = wrapperspb.UInt64(n)
			}
			req.Descriptors = append(req.Descriptors, desc)
		}
		if len(req.Descriptors) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), rl.timeout)
		ctx, span := rl.callout.Start(ctx, "ratelimit ShouldRateLimit", attribute.String("rpc.system", "grpc"),
			attribute.String("agentgateway.ratelimit.domain", rl.domain))
		for k, v := range policyutil.Outgoing(ctx) {
			ctx = metadata.AppendToOutgoingContext(ctx, k, v)
		}
		resp, err := rl.client.ShouldRateLimit(ctx, req)
		policyutil.EndSpan(span, err, attribute.String("agentgateway.ratelimit.code", resp.GetOverallCode().String()))
		cancel()
		st := agentgateway.StateFrom(r.Context())
		if err != nil || resp.GetOverallCode() == rlsv3.RateLimitResponse_UNKNOWN {
			if err == nil {
				err = errors.New("unknown response code")
			}
			if st != nil {
				st.Err = fmt.Errorf("%w: %v", ErrService, err)
			}
			if rl.failOpen {
				next.ServeHTTP(w, r)
				return
			}
			refuse(w, r, http.StatusInternalServerError, "rate limit service unavailable")
			return
		}
		for _, hv := range resp.GetRequestHeadersToAdd() {
			if policyutil.ValidToken(hv.GetKey()) {
				r.Header.Set(hv.GetKey(), headerValueString(hv))
			}
		}
		if resp.GetOverallCode() == rlsv3.RateLimitResponse_OVER_LIMIT {
			if st != nil {
				st.Policy.RateLimit = agentgateway.RateLimitDenied
			}
			h := w.Header()
			for _, hv := range resp.GetResponseHeadersToAdd() {
				if policyutil.ValidToken(hv.GetKey()) {
					h.Set(hv.GetKey(), headerValueString(hv))
				}
			}
			if h.Get("Retry-After") == "" {
				var reset time.Duration
				for _, s := range resp.GetStatuses() {
					if d := s.GetDurationUntilReset().AsDuration(); s.GetCode() == rlsv3.RateLimitResponse_OVER_LIMIT && d > reset {
						reset = d
					}
				}
				if reset > 0 {
					h.Set("Retry-After", strconv.FormatInt(int64((reset+time.Second-1)/time.Second), 10))
				}
			}
			refuse(w, r, http.StatusTooManyRequests, "rate limit exceeded")
			return
		}
		if st != nil {
			st.Policy.RateLimit = agentgateway.RateLimitAllowed
		}
		next.ServeHTTP(w, r)
	})
}

func headerValueString(h *corev3.HeaderValue) string {
	if len(h.GetRawValue()) > 0 {
		return string(h.GetRawValue())
	}
	return h.GetValue()
}
