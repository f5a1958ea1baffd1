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
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	celgo "github.com/google/cel-go/cel"
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
	// Cache, when set, reuses decisions for requests with the same key.
	Cache *Cache
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
	// Metadata are CEL expressions evaluated on an allowing answer (the variable `response` holds
	// its code, headers and body); their values are the `extauthz` variable of later CEL.
	Metadata map[string]string
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
	respMeta   []namedProgram
	failStatus int
	failAllow  bool
	cache      *decisionCache
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
	if cfg.Cache != nil {
		c, err := newDecisionCache(cfg.Cache)
		if err != nil {
			return nil, err
		}
		x.cache = c
	}
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
		for _, name := range policyutil.SortedKeys(h.Metadata) {
			pr, err := cel.CompileWith(h.Metadata[name], nil, responseVar)
			if err != nil {
				return nil, agentgateway.Errorf("http.metadata."+name, "%w", err)
			}
			x.respMeta = append(x.respMeta, namedProgram{name, pr})
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

// Wrap asks the authorization service about each request (or reuses a cached decision).
func (x *Authorizer) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key string
		cacheable := false
		if x.cache != nil {
			key, cacheable = x.cache.key(r)
			if cacheable {
				if d, ok := x.cache.get(key); ok {
					x.apply(d, w, r, next)
					return
				}
			}
		}
		body, ok := x.readBody(r)
		if !ok {
			agentgateway.WriteError(w, http.StatusRequestEntityTooLarge, "request body too large for authorization")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), x.cfg.Timeout)
		var d *decision
		var err error
		if x.client != nil {
			d, err = x.checkGRPC(ctx, r, body)
		} else {
			d, err = x.checkHTTP(ctx, r, body)
		}
		cancel()
		if err != nil {
			x.fail(w, r, next, err)
			return
		}
		if cacheable {
			d.cacheKey = key
		}
		x.apply(d, w, r, next)
	})
}

// decision is what the authorization service answered, in a form that can be applied again to
// another request (the cache).
type decision struct {
	allow bool
	// allow: request mutations, response headers, metadata
	headers     []*corev3.HeaderValueOption
	remove      []string
	querySet    []*corev3.QueryParameter
	queryRemove []string
	respAdd     []*corev3.HeaderValueOption
	metadata    map[string]any
	// deny: the answer to the client (or a redirect)
	status   int
	header   http.Header
	body     []byte
	redirect string
	// cacheKey, when set, stores the decision once applied (its TTL is evaluated then).
	cacheKey string
}

// apply carries the decision out: a denial answers the client, an allow mutates the request and
// calls next.
func (x *Authorizer) apply(d *decision, w http.ResponseWriter, r *http.Request, next http.Handler) {
	st, r := policyutil.StateOf(r)
	if !d.allow {
		st.Policy.DeniedBy = "extAuthz"
		if d.metadata != nil {
			st.Identity.ExtAuthz = d.metadata
		}
		if d.cacheKey != "" {
			x.cache.put(d.cacheKey, d, r, st)
		}
		if d.redirect != "" {
			http.Redirect(w, r, d.redirect, http.StatusFound)
			return
		}
		h := w.Header()
		for k, vs := range d.header {
			h[k] = vs
		}
		if d.body == nil {
			agentgateway.WriteError(w, d.status, "denied by external authorization")
			return
		}
		h.Set("Content-Length", fmt.Sprint(len(d.body)))
		w.WriteHeader(d.status)
		_, _ = w.Write(d.body)
		return
	}
	for _, o := range d.headers {
		applyHeaderOption(r.Header, o)
		if st.Identity.Headers == nil {
			st.Identity.Headers = map[string]string{}
		}
		st.Identity.Headers[o.GetHeader().GetKey()] = headerValueString(o.GetHeader())
	}
	for _, k := range d.remove {
		r.Header.Del(k)
	}
	if len(d.querySet) > 0 || len(d.queryRemove) > 0 {
		q := r.URL.Query()
		for _, k := range d.queryRemove {
			q.Del(k)
		}
		for _, p := range d.querySet {
			q.Set(p.GetKey(), p.GetValue())
		}
		u := *r.URL
		u.RawQuery = q.Encode()
		r.URL = &u
	}
	if len(d.respAdd) > 0 {
		add := d.respAdd
		w = agentgateway.OnWriteHeader(w, func(h http.Header, _ int) {
			for _, o := range add {
				applyHeaderOption(h, o)
			}
		})
	}
	if d.metadata != nil {
		st.Identity.ExtAuthz = d.metadata
	}
	if st.Identity.Method == "" {
		st.Identity.Method = "extAuthz"
	}
	if d.cacheKey != "" {
		x.cache.put(d.cacheKey, d, r, st)
	}
	next.ServeHTTP(w, r)
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

func (x *Authorizer) checkGRPC(ctx context.Context, r *http.Request, body []byte) (*decision, error) {
	st := agentgateway.StateFrom(r.Context())
	if st == nil {
		st = &agentgateway.State{}
	}
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
	} else if claims := st.Identity.JWT; claims != nil && (x.cfg.GRPC == nil || x.cfg.GRPC.Metadata == nil) {
		// As Envoy's jwt_authn filter would publish them, for authorizers written against Envoy.
		if s, err := structpb.NewStruct(map[string]any{"jwt_payload": claims}); err == nil {
			attrs.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.filters.http.jwt_authn": s}}
		}
	}
	cctx, span := x.callout.Start(ctx, "ext_authz Check", attribute.String("rpc.system", "grpc"), attribute.String("server.address", x.cfg.Host))
	resp, err := x.client.Check(grpcTraceContext(cctx), &authv3.CheckRequest{Attributes: attrs})
	policyutil.EndSpan(span, err, attribute.Bool("agentgateway.authz.allowed", err == nil && codes.Code(resp.GetStatus().GetCode()) == codes.OK))
	if err != nil {
		return nil, err
	}
	var meta map[string]any
	if dm := resp.GetDynamicMetadata(); dm != nil && len(dm.GetFields()) > 0 {
		meta = dm.AsMap()
	}
	if code := codes.Code(resp.GetStatus().GetCode()); code != codes.OK {
		if er := resp.GetErrorResponse(); er != nil {
			return nil, fmt.Errorf("service error: %s", er.GetBody())
		}
		d := resp.GetDeniedResponse()
		out := &decision{status: http.StatusForbidden, header: http.Header{}, metadata: meta}
		if s := int(d.GetStatus().GetCode()); s >= 200 && s <= 599 {
			out.status = s
		}
		for _, o := range d.GetHeaders() {
			applyHeaderOption(out.header, o)
		}
		if b := d.GetBody(); b != "" {
			out.body = []byte(b)
		}
		return out, nil
	}
	out := &decision{allow: true, metadata: meta}
	if ok := resp.GetOkResponse(); ok != nil {
		out.headers = ok.GetHeaders()
		out.remove = ok.GetHeadersToRemove()
		out.querySet = ok.GetQueryParametersToSet()
		out.queryRemove = ok.GetQueryParametersToRemove()
		out.respAdd = ok.GetResponseHeadersToAdd()
	}
	return out, nil
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

// responseVar is the `response` variable of the HTTP protocol's metadata expressions.
var responseVar = celgo.Variable("response", celgo.MapType(celgo.StringType, celgo.DynType))

// maxAuthzResponse bounds the authorization service's answer body that is read.
const maxAuthzResponse = 64 << 10

func (x *Authorizer) checkHTTP(ctx context.Context, r *http.Request, body []byte) (*decision, error) {
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
		return nil, err
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
		return nil, err
	}
	policyutil.EndSpan(span, nil, attribute.Int("http.response.status_code", resp.StatusCode),
		attribute.Bool("agentgateway.authz.allowed", resp.StatusCode >= 200 && resp.StatusCode < 300))
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthzResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		d := &decision{allow: true}
		for _, k := range x.respHdrs {
			for i, v := range resp.Header.Values(k) {
				action := corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
				if i == 0 {
					action = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
				}
				d.headers = append(d.headers, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}, AppendAction: action})
			}
		}
		if len(x.respMeta) > 0 {
			headers := make(map[string]any, len(resp.Header))
			for k, vs := range resp.Header {
				headers[strings.ToLower(k)] = strings.Join(vs, ",")
			}
			ract := cel.NewActivation(r, nil)
			ract.Extra = map[string]any{"response": map[string]any{"code": resp.StatusCode, "headers": headers, "body": string(respBody)}}
			d.metadata = map[string]any{}
			for _, m := range x.respMeta {
				v, err := m.p.Eval(ctx, ract)
				if err != nil {
					slog.Debug("extAuthz metadata expression failed", "name", m.name, "err", err)
					continue
				}
				d.metadata[m.name] = cel.Native(v)
			}
		}
		return d, nil
	}
	d := &decision{status: resp.StatusCode, header: http.Header{}, body: respBody}
	if x.redirect != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		if loc, err := x.redirect.EvalString(ctx, act); err == nil && loc != "" {
			d.redirect = loc
			return d, nil
		}
	}
	for k, vs := range resp.Header {
		if !hopHeaders[k] {
			d.header[k] = vs
		}
	}
	return d, nil
}
