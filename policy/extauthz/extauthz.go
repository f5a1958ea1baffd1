// Package extauthz is agentgateway's `extAuthz` policy: an external authorization service asked about
// every request, over Envoy's ext_authz gRPC protocol or plain HTTP. It lives apart from package policy
// so that programs that do not use it do not link gRPC and the Envoy protos.
package extauthz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// Config configures external authorization (agentgateway's `extAuthz`): a service called for every
// request, over the Envoy ext_authz gRPC protocol (envoy.service.auth.v3.Authorization/Check) or plain
// HTTP.
type Config struct {
	// Host is the service's "host:port" (or an http:// URL, for HTTP). The config package resolves the
	// schema's service references into it.
	Host string
	// GRPC configures the gRPC protocol, the default; HTTP selects plain HTTP instead. Set at most one.
	GRPC *GRPC
	HTTP *HTTP
	// FailureMode applies when the service cannot be reached, errs or times out: FailClosed (the zero
	// value) answers DenyStatus, FailOpen lets the request through.
	FailureMode agentgateway.FailureMode
	// DenyStatus is the status of a FailClosed answer (default 403).
	DenyStatus int
	// IncludeRequestHeaders lists the request headers sent; nil sends all over gRPC and only
	// Authorization over HTTP.
	IncludeRequestHeaders []string
	// IncludeRequestBody sends (up to MaxRequestBytes of) the request body.
	IncludeRequestBody *BodyOptions
	// Timeout bounds each check (default 2s); an expired check is a failure (FailureMode).
	Timeout time.Duration
	// HTTPClient makes HTTP checks. Default: a client of the authorizer's own that follows no
	// redirects, whose transport the gateway's [agentgateway.Services] wrap.
	HTTPClient *http.Client
}

// GRPC configures the gRPC protocol.
type GRPC struct {
	// Context is sent as the CheckRequest's context_extensions.
	Context map[string]string
	// Metadata maps a filter_metadata namespace to a CEL expression (an object value is sent as is,
	// any other value as {"value": v}).
	Metadata map[string]string
}

// HTTP configures the HTTP protocol: the check is a request with the original method to the
// service, at the original path (or Path); a 2xx answer allows, anything else is returned to the
// client (status, headers and body).
type HTTP struct {
	// Path is a CEL expression for the check's path.
	Path string
	// Redirect is a CEL expression for a URL the client is redirected to (302) when denied.
	Redirect string
	// Body is a CEL expression for the check's body (replacing the forwarded request body).
	Body string
	// IncludeResponseHeaders are copied from an allowing answer into the backend request.
	IncludeResponseHeaders []string
	// AddRequestHeaders are added to the check, values from CEL.
	AddRequestHeaders map[string]string
}

// BodyOptions controls the request body sent to the authorizer.
type BodyOptions struct {
	// MaxRequestBytes is the most sent (default 8192).
	MaxRequestBytes uint32
	// AllowPartialMessage sends the first MaxRequestBytes of a larger body; otherwise a larger body is
	// refused with 413.
	AllowPartialMessage bool
	// PackAsBytes sends the body as raw_body (gRPC).
	PackAsBytes bool
}

// Authorizer is a compiled external authorization policy. Close releases its connection.
type Authorizer struct {
	cfg        Config
	conn       *grpc.ClientConn
	closeOnce  sync.Once
	closeErr   error
	client     authv3.AuthorizationClient
	httpClient *http.Client
	outbound   *policyutil.Outbound // the default HTTP client's transport; nil otherwise
	callout    policyutil.Callout   // the checks' spans
	headers    []string             // canonical names to send; nil = all (gRPC)
	maxBody    int64
	metadata   []namedProgram
	path       *cel.Program
	redirect   *cel.Program
	body       *cel.Program
	addHeaders []namedProgram
	respHdrs   []string
	failStatus int
	failAllow  bool
}

// namedProgram is an expression and the header or namespace its value goes to.
type namedProgram struct {
	name string
	p    *cel.Program
}

// ErrFailed is recorded in State.Err when the authorization service fails.
var ErrFailed = errors.New("external authorization failed")

// New validates cfg and prepares the client (no connection is made until the first check). The
// Authorizer implements [agentgateway.Provisioner]: behind a Gateway, HTTP checks go through the
// gateway's outbound transport hook (unless cfg.HTTPClient is set).
func New(cfg Config) (*Authorizer, error) {
	x := &Authorizer{cfg: cfg, failStatus: http.StatusForbidden}
	switch {
	case cfg.Host == "":
		return nil, agentgateway.Errorf("host", "required")
	case !cfg.FailureMode.Valid():
		return nil, agentgateway.Errorf("failureMode", "unknown failure mode %v", cfg.FailureMode)
	case cfg.DenyStatus != 0 && (cfg.DenyStatus < 100 || cfg.DenyStatus > 599):
		return nil, agentgateway.Errorf("denyStatus", "want a status between 100 and 599, got %d", cfg.DenyStatus)
	case cfg.GRPC != nil && cfg.HTTP != nil:
		return nil, agentgateway.Errorf("http", "set grpc or http, not both")
	}
	x.failAllow = cfg.FailureMode == agentgateway.FailOpen
	if cfg.DenyStatus != 0 {
		x.failStatus = cfg.DenyStatus
	}
	if x.cfg.Timeout <= 0 {
		x.cfg.Timeout = 2 * time.Second
	}
	for i, h := range cfg.IncludeRequestHeaders {
		if !policyutil.ValidToken(strings.TrimPrefix(h, ":")) {
			return nil, agentgateway.Errorf(policyutil.Field("includeRequestHeaders", i, ""), "invalid header name %q", h)
		}
		x.headers = append(x.headers, http.CanonicalHeaderKey(h))
	}
	if b := cfg.IncludeRequestBody; b != nil {
		x.maxBody = int64(b.MaxRequestBytes)
		if x.maxBody == 0 {
			x.maxBody = 8192
		}
	}
	var err error
	if h := cfg.HTTP; h != nil {
		if x.headers == nil {
			x.headers = []string{"Authorization"}
		}
		comp := func(f, e string) (*cel.Program, error) {
			if e == "" {
				return nil, nil
			}
			pr, err := cel.Compile(e, nil)
			if err != nil {
				return nil, agentgateway.Errorf("http."+f, "%w", err)
			}
			return pr, nil
		}
		if x.path, err = comp("path", h.Path); err != nil {
			return nil, err
		}
		if x.redirect, err = comp("redirect", h.Redirect); err != nil {
			return nil, err
		}
		if x.body, err = comp("body", h.Body); err != nil {
			return nil, err
		}
		for _, name := range policyutil.SortedKeys(h.AddRequestHeaders) {
			pr, err := comp("addRequestHeaders."+name, h.AddRequestHeaders[name])
			if err != nil {
				return nil, err
			}
			x.addHeaders = append(x.addHeaders, namedProgram{http.CanonicalHeaderKey(name), pr})
		}
		for _, name := range h.IncludeResponseHeaders {
			x.respHdrs = append(x.respHdrs, http.CanonicalHeaderKey(name))
		}
		x.httpClient = cfg.HTTPClient
		if x.httpClient == nil {
			x.outbound = policyutil.NewOutbound(http.DefaultTransport.(*http.Transport).Clone())
			x.httpClient = &http.Client{Transport: x.outbound, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
		return x, nil
	}
	if g := cfg.GRPC; g != nil {
		for _, ns := range policyutil.SortedKeys(g.Metadata) {
			pr, err := cel.Compile(g.Metadata[ns], nil)
			if err != nil {
				return nil, agentgateway.Errorf("grpc.metadata."+ns, "%w", err)
			}
			x.metadata = append(x.metadata, namedProgram{ns, pr})
		}
	}
	x.conn, err = grpc.NewClient(strings.TrimPrefix(strings.TrimPrefix(cfg.Host, "http://"), "grpc://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, agentgateway.Errorf("host", "%w", err)
	}
	x.client = authv3.NewAuthorizationClient(x.conn)
	return x, nil
}

// Close closes the gRPC connection, or the idle connections of the default HTTP client.
func (x *Authorizer) Close() error {
	if x.conn != nil {
		x.closeOnce.Do(func() { x.closeErr = x.conn.Close() })
		return x.closeErr
	}
	if x.outbound != nil {
		x.outbound.CloseIdleConnections()
	}
	return nil
}

// Provision implements [agentgateway.Provisioner]: each check runs in a client span of the
// gateway's tracer provider, whose trace context the service receives (gRPC metadata or HTTP
// headers); the default HTTP client's transport is wrapped by the gateway's outbound hook. (gRPC
// checks use their own connection, which the hook does not cover.)
func (x *Authorizer) Provision(svc agentgateway.Services) error {
	x.callout.Provision(svc)
	if x.outbound != nil {
		x.outbound.Provision(svc)
	}
	return nil
}

// readBody returns up to maxBody bytes of the body (restoring the body for the backend); ok false
// means it is larger and partial messages are not allowed.
func (x *Authorizer) readBody(r *http.Request) ([]byte, bool) {
	if x.maxBody == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	buf, _ := io.ReadAll(io.LimitReader(r.Body, x.maxBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if int64(len(buf)) > x.maxBody {
		if x.cfg.IncludeRequestBody == nil || !x.cfg.IncludeRequestBody.AllowPartialMessage {
			return nil, false
		}
		buf = buf[:x.maxBody]
	}
	return buf, true
}

func (x *Authorizer) fail(w http.ResponseWriter, r *http.Request, next http.Handler, err error) {
	if st := agentgateway.StateFrom(r.Context()); st != nil {
		st.Err = fmt.Errorf("%w: %v", ErrFailed, err)
	}
	if x.failAllow {
		next.ServeHTTP(w, r)
		return
	}
	agentgateway.WriteError(w, x.failStatus, "authorization service unavailable")
}

// Phase is agentgateway.PhaseAuthn.
func (*Authorizer) Phase() agentgateway.Phase { return agentgateway.PhaseAuthn }

// Wrap asks the authorization service about each request.
func (x *Authorizer) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := x.readBody(r)
		if !ok {
			agentgateway.WriteError(w, http.StatusRequestEntityTooLarge, "request body too large for authorization")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), x.cfg.Timeout)
		defer cancel()
		if x.client != nil {
			x.checkGRPC(ctx, w, r, next, body)
		} else {
			x.checkHTTP(ctx, w, r, next, body)
		}
	})
}

func (x *Authorizer) selectedHeaders(r *http.Request) map[string]string {
	out := map[string]string{}
	if x.headers == nil {
		for k, v := range r.Header {
			out[strings.ToLower(k)] = strings.Join(v, ",")
		}
	} else {
		for _, k := range x.headers {
			if v := r.Header.Values(k); len(v) > 0 {
				out[strings.ToLower(k)] = strings.Join(v, ",")
			}
		}
	}
	out[":authority"] = r.Host
	out[":method"] = r.Method
	out[":path"] = r.URL.RequestURI()
	return out
}

func (x *Authorizer) checkGRPC(ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler, body []byte) {
	st, r := policyutil.StateOf(r)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	httpReq := &authv3.AttributeContext_HttpRequest{
		Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Scheme: scheme, Protocol: r.Proto,
		Headers: x.selectedHeaders(r), Size: r.ContentLength,
	}
	if body != nil {
		if x.cfg.IncludeRequestBody.PackAsBytes {
			httpReq.RawBody = body
		} else {
			httpReq.Body = string(body)
		}
	}
	attrs := &authv3.AttributeContext{
		Request:           &authv3.AttributeContext_Request{Http: httpReq},
		ContextExtensions: x.grpcContext(),
	}
	if st.Source.IsValid() {
		attrs.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: st.Source.Addr().String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(st.Source.Port())}},
		}}}
	}
	if len(x.metadata) > 0 {
		md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
		act := cel.NewActivation(r, st)
		for _, m := range x.metadata {
			v, err := m.p.Eval(ctx, act)
			if err != nil {
				continue
			}
			nv := cel.Native(v)
			obj, ok := nv.(map[string]any)
			if !ok {
				obj = map[string]any{"value": nv}
			}
			if s, err := structpb.NewStruct(obj); err == nil {
				md.FilterMetadata[m.name] = s
			}
		}
		attrs.MetadataContext = md
	}
	cctx, span := x.callout.Start(ctx, "ext_authz Check", attribute.String("rpc.system", "grpc"), attribute.String("server.address", x.cfg.Host))
	resp, err := x.client.Check(grpcTraceContext(cctx), &authv3.CheckRequest{Attributes: attrs})
	policyutil.EndSpan(span, err, attribute.Bool("agentgateway.authz.allowed", err == nil && codes.Code(resp.GetStatus().GetCode()) == codes.OK))
	if err != nil {
		x.fail(w, r, next, err)
		return
	}
	if code := codes.Code(resp.GetStatus().GetCode()); code != codes.OK {
		if er := resp.GetErrorResponse(); er != nil {
			x.fail(w, r, next, fmt.Errorf("service error: %s", er.GetBody()))
			return
		}
		d := resp.GetDeniedResponse()
		status := http.StatusForbidden
		if s := int(d.GetStatus().GetCode()); s >= 200 && s <= 599 {
			status = s
		}
		st.Policy.DeniedBy = "extAuthz"
		h := w.Header()
		for _, o := range d.GetHeaders() {
			applyHeaderOption(h, o)
		}
		if b := d.GetBody(); b != "" {
			h.Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(status)
			_, _ = io.WriteString(w, b)
			return
		}
		agentgateway.WriteError(w, status, "denied by external authorization")
		return
	}
	if ok := resp.GetOkResponse(); ok != nil {
		for _, o := range ok.GetHeaders() {
			applyHeaderOption(r.Header, o)
			if st.Identity.Headers == nil {
				st.Identity.Headers = map[string]string{}
			}
			st.Identity.Headers[o.GetHeader().GetKey()] = headerValueString(o.GetHeader())
		}
		for _, k := range ok.GetHeadersToRemove() {
			r.Header.Del(k)
		}
		if len(ok.GetQueryParametersToSet()) > 0 || len(ok.GetQueryParametersToRemove()) > 0 {
			q := r.URL.Query()
			for _, k := range ok.GetQueryParametersToRemove() {
				q.Del(k)
			}
			for _, p := range ok.GetQueryParametersToSet() {
				q.Set(p.GetKey(), p.GetValue())
			}
			u := *r.URL
			u.RawQuery = q.Encode()
			r.URL = &u
		}
		if add := ok.GetResponseHeadersToAdd(); len(add) > 0 {
			w = agentgateway.OnWriteHeader(w, func(h http.Header, _ int) {
				for _, o := range add {
					applyHeaderOption(h, o)
				}
			})
		}
	}
	if st.Identity.Method == "" {
		st.Identity.Method = "extAuthz"
	}
	next.ServeHTTP(w, r)
}

// grpcTraceContext adds the trace context of ctx to the call's outgoing gRPC metadata.
func grpcTraceContext(ctx context.Context) context.Context {
	for k, v := range policyutil.Outgoing(ctx) {
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	return ctx
}

func (x *Authorizer) grpcContext() map[string]string {
	if x.cfg.GRPC == nil {
		return nil
	}
	return x.cfg.GRPC.Context
}

func headerValueString(h *corev3.HeaderValue) string {
	if len(h.GetRawValue()) > 0 {
		return string(h.GetRawValue())
	}
	return h.GetValue()
}

// applyHeaderOption follows Envoy's append_action semantics (the deprecated append flag too).
func applyHeaderOption(h http.Header, o *corev3.HeaderValueOption) {
	k, v := o.GetHeader().GetKey(), headerValueString(o.GetHeader())
	if !policyutil.ValidToken(k) {
		return
	}
	action := o.GetAppendAction()
	if o.GetAppend() != nil {
		if o.GetAppend().GetValue() {
			action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		} else {
			action = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		}
	}
	switch action {
	case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		h.Add(k, v)
	case corev3.HeaderValueOption_ADD_IF_ABSENT:
		if h.Get(k) == "" {
			h.Set(k, v)
		}
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
		h.Set(k, v)
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
		if h.Get(k) != "" {
			h.Set(k, v)
		}
	}
}

var hopHeaders = map[string]bool{"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true, "Te": true, "Trailer": true, "Proxy-Connection": true}

func (x *Authorizer) checkHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler, body []byte) {
	act := cel.NewActivation(r, nil)
	path := r.URL.RequestURI()
	if x.path != nil {
		if p, err := x.path.EvalString(ctx, act); err == nil {
			path = p
		}
	}
	if x.body != nil {
		if b, err := x.body.EvalBytes(ctx, act); err == nil {
			body = b
		}
	}
	base := x.cfg.Host
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	cctx, span := x.callout.Start(ctx, "ext_authz "+r.Method, attribute.String("server.address", x.cfg.Host))
	req, err := http.NewRequestWithContext(cctx, r.Method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		policyutil.EndSpan(span, err)
		x.fail(w, r, next, err)
		return
	}
	for _, k := range x.headers {
		if vs := r.Header.Values(k); len(vs) > 0 {
			req.Header[k] = vs
		}
	}
	for _, op := range x.addHeaders {
		if v, err := op.p.EvalString(ctx, act); err == nil {
			req.Header.Set(op.name, v)
		}
	}
	req.Header.Set("X-Forwarded-Host", r.Host)
	for k, v := range policyutil.Outgoing(cctx) {
		req.Header.Set(k, v)
	}
	resp, err := x.httpClient.Do(req)
	if err != nil {
		policyutil.EndSpan(span, err)
	} else {
		policyutil.EndSpan(span, nil, attribute.Int("http.response.status_code", resp.StatusCode),
			attribute.Bool("agentgateway.authz.allowed", resp.StatusCode >= 200 && resp.StatusCode < 300))
	}
	if err != nil {
		x.fail(w, r, next, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		st, r := policyutil.StateOf(r)
		for _, k := range x.respHdrs {
			if vs := resp.Header.Values(k); len(vs) > 0 {
				r.Header[k] = vs
				if st.Identity.Headers == nil {
					st.Identity.Headers = map[string]string{}
				}
				st.Identity.Headers[k] = strings.Join(vs, ",")
			}
		}
		if st.Identity.Method == "" {
			st.Identity.Method = "extAuthz"
		}
		next.ServeHTTP(w, r)
		return
	}
	if st := agentgateway.StateFrom(r.Context()); st != nil {
		st.Policy.DeniedBy = "extAuthz"
	}
	if x.redirect != nil {
		if loc, err := x.redirect.EvalString(ctx, act); err == nil && loc != "" {
			http.Redirect(w, r, loc, http.StatusFound)
			return
		}
	}
	h := w.Header()
	for k, vs := range resp.Header {
		if !hopHeaders[k] {
			h[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<10))
}
