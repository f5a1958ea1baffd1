package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	agentgateway "github.com/agentgw/agentgateway"
)

// Defaults of an OpenAPI target.
const (
	// DefaultOpenAPITimeout bounds one REST call of an OpenAPI target.
	DefaultOpenAPITimeout = 30 * time.Second
	// DefaultOpenAPIMaxResponseBytes bounds the response body of one REST call.
	DefaultOpenAPIMaxResponseBytes = 4 << 20
	// maxSpecBytes bounds a fetched OpenAPI document.
	maxSpecBytes = 16 << 20
)

// OpenAPIOption configures an [OpenAPITarget].
type OpenAPIOption func(*openAPIConfig)

type openAPIConfig struct {
	baseURL  string
	location *url.URL
	timeout  time.Duration
	maxResp  int64
	logger   *slog.Logger
}

// OpenAPIBaseURL sets where the API is (agentgateway's `host`): "https://api.example.com" or with a
// path. Without a path (or with "/") the path of the document's first server is kept, so a spec whose
// server is "https://prod.example.com/v3" called at "http://localhost:8080" goes to
// "http://localhost:8080/v3". Without this option the document's first server URL is used.
func OpenAPIBaseURL(u string) OpenAPIOption { return func(c *openAPIConfig) { c.baseURL = u } }

// OpenAPISpecLocation names where the document came from; a relative server URL in it ("/api")
// resolves against it, as OpenAPI specifies.
func OpenAPISpecLocation(u string) OpenAPIOption {
	return func(c *openAPIConfig) { c.location, _ = url.Parse(u) }
}

// OpenAPITimeout bounds each REST call (default [DefaultOpenAPITimeout]).
func OpenAPITimeout(d time.Duration) OpenAPIOption { return func(c *openAPIConfig) { c.timeout = d } }

// OpenAPIMaxResponseBytes bounds each response body (default [DefaultOpenAPIMaxResponseBytes]); a
// larger response is a tool error.
func OpenAPIMaxResponseBytes(n int64) OpenAPIOption {
	return func(c *openAPIConfig) { c.maxResp = n }
}

// OpenAPILogger receives the operations that could not become tools (default slog.Default()).
func OpenAPILogger(l *slog.Logger) OpenAPIOption { return func(c *openAPIConfig) { c.logger = l } }

// openAPI is a parsed document and its tools; one go-sdk server is built from it per federation
// target that uses it.
type openAPI struct {
	calls   callContexts // the contexts of tools/calls in flight (openapi_calls.go)
	err     error
	tools   []*restTool
	base    *url.URL
	timeout time.Duration
	maxResp int64
	title   string
	version string
}

// OpenAPITarget is a REST API described by an OpenAPI 3.0 or 3.1 document (JSON or YAML), served as MCP
// tools: every operation becomes a tool named after its operationId (else "<method>_<path>"),
// described by its summary and description, whose input schema has a property per path, query, header
// and cookie parameter and, for an operation with a request body, "body" ($refs resolved into the
// tool's schema, required honoured, OpenAPI 3.0 forms rewritten as JSON Schema 2020-12).
//
// A call is validated against that schema before any request; invalid arguments are a tool error
// (isError), as MCP 2025-11-25 asks (SEP-1303), so a model sees why and can retry. A valid call
// becomes the HTTP request (path parameters escaped, query and headers per the parameter's style,
// the body as JSON, a form or text) to the base URL ([OpenAPIBaseURL], else the document's server).
// The response is the tool's content: JSON also as structuredContent (a non-object value is wrapped
// as {"result": value}); any other status than 2xx is a tool error carrying the status and body.
// Each call is bounded in time ([OpenAPITimeout]) and response size ([OpenAPIMaxResponseBytes]) and
// ends when the client cancels it.
//
// The target's BackendAuth, HTTPClient (backendTLS in configuration), ForwardAuthorization and
// Headers apply to the REST calls as they do to an HTTP target's requests, with the values of each
// client call (its Authorization for ForwardAuthorization and passthrough, a route's backend-auth
// credential and backendTLS transport). Redirects are followed on the API's host only. The target is
// an in-process MCP server: prefixes, tool filters, authorization and pagination work as for any
// target.
//
// A document that cannot be parsed or validated, or that names no usable base URL, is reported by
// [Federation.Validate] (errors wrap [ErrOpenAPISpec]). External $refs are refused. Operations that
// cannot be converted are skipped with a warning.
func OpenAPITarget(name string, spec []byte, opts ...OpenAPIOption) Target {
	cfg := openAPIConfig{timeout: DefaultOpenAPITimeout, maxResp: DefaultOpenAPIMaxResponseBytes}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	t := Target{Name: name, Transport: TransportServer, openapi: newOpenAPI(name, spec, cfg)}
	if t.openapi.base != nil {
		t.URL = t.openapi.base.String() // what a backend-auth policy sees as the target
	}
	return t
}

func newOpenAPI(name string, spec []byte, cfg openAPIConfig) *openAPI {
	a := &openAPI{timeout: cfg.timeout, maxResp: cfg.maxResp}
	if a.timeout <= 0 {
		a.timeout = DefaultOpenAPITimeout
	}
	if a.maxResp <= 0 {
		a.maxResp = DefaultOpenAPIMaxResponseBytes
	}
	doc, err := loadOpenAPI(spec)
	if err != nil {
		a.err = err
		return a
	}
	if doc.Info != nil {
		a.title, a.version = doc.Info.Title, doc.Info.Version
	}
	server, err := specServerURL(doc, cfg.location)
	if err != nil {
		a.err = err
		return a
	}
	if a.base, a.err = resolveBase(cfg.baseURL, server); a.err != nil {
		return a
	}
	var warnings []string
	a.tools, warnings = openAPITools(doc)
	for _, w := range warnings {
		cfg.logger.Warn("mcp: openapi operation skipped", "target", name, "reason", w)
	}
	return a
}

// resolveBase combines the configured base URL with the document's server URL.
func resolveBase(configured string, server *url.URL) (*url.URL, error) {
	if configured == "" {
		if !server.IsAbs() {
			return nil, fmt.Errorf("%w: the server URL %q is relative: set a base URL (host)", ErrOpenAPISpec, server)
		}
		if server.Scheme != "http" && server.Scheme != "https" {
			return nil, fmt.Errorf("%w: server URL %q is not http(s)", ErrOpenAPISpec, server)
		}
		return server, nil
	}
	u, err := url.Parse(configured)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: base URL %q is not an http(s) URL", ErrOpenAPISpec, configured)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path, u.RawPath = server.Path, server.RawPath
	}
	return u, nil
}

func (a *openAPI) validate(at, name string) error {
	if a.err != nil {
		return agentgateway.Errorf(at+".openapi", "target %q: %w", name, a.err)
	}
	return nil
}

// server builds the in-process MCP server of target t, whose handlers reach the API with t's client
// and credentials.
func (a *openAPI) server(t *target) *sdk.Server {
	title := a.title
	if title == "" {
		title = t.Name
	}
	s := sdk.NewServer(&sdk.Implementation{Name: t.Name, Title: title, Version: a.version}, &sdk.ServerOptions{
		Capabilities: &sdk.ServerCapabilities{Tools: &sdk.ToolCapabilities{}},
	})
	for _, rt := range a.tools {
		s.AddTool(rt.tool, a.handler(t, rt))
	}
	return s
}

func toolError(format string, args ...any) *sdk.CallToolResult {
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

func (a *openAPI) handler(t *target, rt *restTool) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		var raw json.RawMessage
		if req.Params != nil {
			raw = req.Params.Arguments
			ctx = a.callContext(ctx, req.Params.Meta)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			raw = json.RawMessage("{}")
		}
		// Numbers stay as written (json.Number): 2^53+1 must reach the API unrounded.
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return toolError("invalid arguments: %v", err), nil
		}
		args, ok := inst.(map[string]any)
		if !ok {
			return toolError("invalid arguments: not an object"), nil
		}
		for _, p := range rt.params {
			switch v := args[p.prop].(type) {
			case json.Number:
				if p.stringy {
					args[p.prop] = v.String()
				}
			case bool:
				if p.stringy {
					args[p.prop] = strconv.FormatBool(v)
				}
			}
		}
		if err := rt.schema.Validate(inst); err != nil {
			return toolError("invalid arguments: %v", err), nil
		}
		hreq, err := a.request(ctx, t, rt, args)
		if err != nil {
			return toolError("%v", err), nil
		}
		parent := ctx
		ctx, cancel := context.WithTimeout(ctx, a.timeout)
		defer cancel()
		resp, err := a.client(ctx, t).Do(hreq.WithContext(ctx))
		if err != nil {
			if parent.Err() != nil {
				return nil, parent.Err() // the client cancelled: no one reads the answer
			}
			return toolError("%s %s: %v", rt.method, rt.path, err), nil
		}
		defer resp.Body.Close()
		return a.result(resp)
	}
}

// client is the net/http client for t's REST calls: t's own (backendTLS), else the route's TLS
// transport when the request that opened the session carried one, else the federation's. Redirects
// are followed only on the API's own host: backend credentials must not follow one elsewhere.
func (a *openAPI) client(ctx context.Context, t *target) *http.Client {
	var c http.Client
	if rt := agentgateway.UpstreamTransportFrom(ctx); rt != nil && t.HTTPClient == nil {
		c.Transport = rt
	} else {
		hc, _ := t.client()
		c = *hc
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != a.base.Host || req.URL.Scheme != a.base.Scheme {
			return http.ErrUseLastResponse // the 3xx is the answer
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// request builds the HTTP request of one call.
func (a *openAPI) request(ctx context.Context, t *target, rt *restTool, args map[string]any) (*http.Request, error) {
	path := rt.path
	query := url.Values{}
	header := http.Header{}
	var cookies []string
	for _, p := range rt.params {
		v, ok := args[p.prop]
		if !ok || v == nil {
			if p.in == "path" {
				return nil, fmt.Errorf("invalid arguments: path parameter %q is required", p.prop)
			}
			continue
		}
		switch p.in {
		case "path":
			path = strings.ReplaceAll(path, "{"+p.name+"}", url.PathEscape(simpleValue(v)))
		case "query":
			addQuery(query, p, v)
		case "header":
			header.Set(p.name, simpleValue(v))
		case "cookie":
			cookies = append(cookies, p.name+"="+url.QueryEscape(simpleValue(v)))
		}
	}
	u := *a.base
	u.Path = strings.TrimRight(a.base.Path, "/") + pathUnescape(path)
	u.RawPath = strings.TrimRight(a.base.EscapedPath(), "/") + path
	if len(query) > 0 {
		q := u.Query()
		for k, vs := range query {
			q[k] = append(q[k], vs...)
		}
		u.RawQuery = q.Encode()
	}
	var body io.Reader
	if rt.body != nil {
		if v, ok := args[rt.body.prop]; ok {
			b, err := encodeBody(rt.body.mediaType, v)
			if err != nil {
				return nil, err
			}
			body = bytes.NewReader(b)
			header.Set("Content-Type", rt.body.mediaType)
		}
	}
	req, err := http.NewRequestWithContext(ctx, rt.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", rt.method, rt.path, err)
	}
	for k, vs := range t.Headers {
		req.Header[k] = vs
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if len(cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	req.Header.Set("Accept", "application/json, */*;q=0.5")
	if t.ForwardAuthorization {
		if auth, ok := ctx.Value(authKey{}).(string); ok {
			req.Header.Set("Authorization", auth)
		}
	}
	creds, err := t.credentials(ctx)
	if err != nil {
		return nil, err
	}
	if creds != nil {
		creds(req)
	}
	return req, nil
}

func pathUnescape(p string) string {
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

// scalar renders a JSON scalar as a parameter value.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// simpleValue renders a value in OpenAPI's simple style: arrays comma-separated, objects as
// "key,value,..." in key order.
func simpleValue(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = scalar(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, 0, 2*len(keys))
		for _, k := range keys {
			parts = append(parts, k, scalar(x[k]))
		}
		return strings.Join(parts, ",")
	}
	return scalar(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// addQuery adds a query parameter in its style: form (exploded or not), spaceDelimited,
// pipeDelimited or deepObject.
func addQuery(q url.Values, p restParam, v any) {
	sep := ","
	switch p.style {
	case "spaceDelimited":
		sep = " "
	case "pipeDelimited":
		sep = "|"
	}
	switch x := v.(type) {
	case []any:
		if p.explode {
			for _, e := range x {
				q.Add(p.name, scalar(e))
			}
			return
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = scalar(e)
		}
		q.Add(p.name, strings.Join(parts, sep))
	case map[string]any:
		for _, k := range sortedKeys(x) {
			switch {
			case p.style == "deepObject":
				q.Add(p.name+"["+k+"]", scalar(x[k]))
			case p.explode:
				q.Add(k, scalar(x[k]))
			}
		}
		if p.style != "deepObject" && !p.explode {
			q.Add(p.name, simpleValue(x))
		}
	default:
		q.Add(p.name, scalar(v))
	}
}

// encodeBody serializes the body argument for its media type.
func encodeBody(mediaType string, v any) ([]byte, error) {
	base := mediaBase(mediaType)
	switch {
	case isJSONMedia(mediaType):
		return json.Marshal(v)
	case base == "application/x-www-form-urlencoded":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("invalid arguments: a form body must be an object")
		}
		form := url.Values{}
		for _, k := range sortedKeys(m) {
			if arr, ok := m[k].([]any); ok {
				for _, e := range arr {
					form.Add(k, scalar(e))
				}
				continue
			}
			form.Add(k, scalar(m[k]))
		}
		return []byte(form.Encode()), nil
	}
	if s, ok := v.(string); ok {
		return []byte(s), nil
	}
	return json.Marshal(v)
}

// result turns the response into the tool's result.
func (a *openAPI) result(resp *http.Response) (*sdk.CallToolResult, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, a.maxResp+1))
	if err != nil {
		return toolError("HTTP %d: reading the response: %v", resp.StatusCode, err), nil
	}
	if int64(len(body)) > a.maxResp {
		return toolError("HTTP %d: response larger than %d bytes", resp.StatusCode, a.maxResp), nil
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	res := &sdk.CallToolResult{IsError: !ok}
	var structured any
	if len(body) > 0 && (isJSONMedia(mt) || mt == "") && json.Valid(body) {
		var v any
		_ = json.Unmarshal(body, &v)
		if _, isObj := v.(map[string]any); !isObj {
			v = map[string]any{"result": v}
		}
		structured = v
	}
	switch {
	case !ok:
		text := fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if len(body) > 0 {
			text += ": " + printable(body)
		}
		res.Content = []sdk.Content{&sdk.TextContent{Text: text}}
		return res, nil
	case len(body) == 0:
		res.Content = []sdk.Content{&sdk.TextContent{Text: fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}}
	case structured != nil:
		res.Content = []sdk.Content{&sdk.TextContent{Text: string(body)}}
		res.StructuredContent = structured
	case strings.HasPrefix(mt, "image/"):
		res.Content = []sdk.Content{&sdk.ImageContent{Data: body, MIMEType: mt}}
	case strings.HasPrefix(mt, "audio/"):
		res.Content = []sdk.Content{&sdk.AudioContent{Data: body, MIMEType: mt}}
	case utf8.Valid(body):
		res.Content = []sdk.Content{&sdk.TextContent{Text: string(body)}}
	default:
		res.Content = []sdk.Content{&sdk.TextContent{Text: fmt.Sprintf("HTTP %d, %d bytes of %s (base64): %s", resp.StatusCode, len(body), ct, base64.StdEncoding.EncodeToString(body))}}
	}
	return res, nil
}

// printable is body as text, or a note of its size when it is not UTF-8.
func printable(body []byte) string {
	if utf8.Valid(body) {
		return string(body)
	}
	return fmt.Sprintf("(%d bytes, not text)", len(body))
}

// FetchOpenAPISpec reads an OpenAPI document from rawURL with client (http.DefaultClient when nil),
// bounded by ctx and to 16 MiB; a status other than 200 is an error.
func FetchOpenAPISpec(ctx context.Context, client *http.Client, rawURL string) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpenAPISpec, err)
	}
	req.Header.Set("Accept", "application/json, application/yaml;q=0.9, */*;q=0.5")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetching %s: %v", ErrOpenAPISpec, rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetching %s: HTTP %d", ErrOpenAPISpec, rawURL, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: fetching %s: %v", ErrOpenAPISpec, rawURL, err)
	}
	if len(b) > maxSpecBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrOpenAPISpec, rawURL, maxSpecBytes)
	}
	return b, nil
}
