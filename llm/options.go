package llm

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Upstream is one configured provider: its wire ([Provider]), where it is reached and how the gateway
// authenticates to it. Make one with [OpenAI], [Anthropic], [OpenAICompatible] or [Custom]; one
// Upstream may serve several models.
type Upstream struct {
	provider Provider
	name     string
	base     string // scheme://host/prefix, from baseUrl or the provider's default
	host     string // hostOverride: host:port
	prefix   *string
	path     string // pathOverride: the whole path
	key      string
	keyEnv   string
	keySet   bool
	passKey  bool
	model    string
	headers  http.Header
	removed  []string // header names taken off the provider request (RemoveUpstreamHeader)
	rt       http.RoundTripper
	errs     []error
	// auth is a cloud credential applied last (cloudauth.go).
	auth func(*http.Request, []byte) error
	// meta is Bedrock's requestMetadata, set on each chat call (reqmeta.go).
	meta []metaEntry

	scheme, hostport, basePath string // resolved by finish
}

// UpstreamOption configures an [Upstream].
type UpstreamOption func(*Upstream)

// OpenAI is the OpenAI API (chat completions at https://api.openai.com/v1). Its key comes from
// [APIKey], else the environment variable OPENAI_API_KEY.
func OpenAI(opts ...UpstreamOption) *Upstream {
	return newUpstream(OpenAIChat{}, "openai", "OPENAI_API_KEY", opts)
}

// Anthropic is the Anthropic API (messages at https://api.anthropic.com/v1). Its key comes from
// [APIKey], else the environment variable ANTHROPIC_API_KEY.
func Anthropic(opts ...UpstreamOption) *Upstream {
	return newUpstream(AnthropicMessages{}, "anthropic", "ANTHROPIC_API_KEY", opts)
}

// OpenAICompatible is any server that speaks OpenAI chat completions (Ollama, vLLM, llama.cpp,
// Groq, Mistral, DeepSeek, OpenRouter, ...) at baseURL, the URL that "/chat/completions" is appended
// to, e.g. "http://localhost:11434/v1". name is its gen_ai.provider.name. No key is sent unless
// [APIKey] or [APIKeyEnv] gives one.
func OpenAICompatible(name, baseURL string, opts ...UpstreamOption) *Upstream {
	return newUpstream(OpenAIChat{ProviderName: name}, name, "", append([]UpstreamOption{BaseURL(baseURL)}, opts...))
}

// Custom is an upstream of any [Provider] (the extension point for further provider kinds). Its key
// comes from [APIKey] or [APIKeyEnv].
func Custom(p Provider, opts ...UpstreamOption) *Upstream {
	return newUpstream(p, p.Name(), "", opts)
}

func newUpstream(p Provider, name, env string, opts []UpstreamOption) *Upstream {
	u := &Upstream{provider: p, name: name, base: p.DefaultBase(), keyEnv: env}
	for _, o := range opts {
		o(u)
	}
	return u
}

// APIKey is the key the gateway sends to the provider (OpenAI: Authorization Bearer; Anthropic:
// x-api-key).
func APIKey(key string) UpstreamOption {
	return func(u *Upstream) { u.key, u.keySet = key, true }
}

// APIKeyEnv reads the key from the environment variable name when the router is built; an unset
// variable is an error of [New].
func APIKeyEnv(name string) UpstreamOption {
	return func(u *Upstream) {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			u.errs = append(u.errs, fmt.Errorf("environment variable %s (API key) is not set", name))
			return
		}
		u.key, u.keySet = v, true
	}
}

// PassthroughKey sends the client's own credential to the provider (its Authorization bearer token
// or x-api-key, whichever it sent, in the provider's header) instead of a configured key.
func PassthroughKey() UpstreamOption { return func(u *Upstream) { u.passKey = true } }

// BaseURL sets scheme, host and path prefix at once ("http://localhost:11434/v1").
func BaseURL(raw string) UpstreamOption {
	return func(u *Upstream) { u.base = raw }
}

// HostOverride sends requests to host:port instead of the provider's host (plain HTTP unless the
// base URL is https).
func HostOverride(hostport string) UpstreamOption { return func(u *Upstream) { u.host = hostport } }

// PathPrefix replaces the provider's base path ("/v1"); the operation's path follows it.
func PathPrefix(prefix string) UpstreamOption { return func(u *Upstream) { u.prefix = &prefix } }

// PathOverride sends every request to exactly this path.
func PathOverride(path string) UpstreamOption { return func(u *Upstream) { u.path = path } }

// UpstreamModel sends this model name to the provider whatever the client asked for.
func UpstreamModel(model string) UpstreamOption { return func(u *Upstream) { u.model = model } }

// UpstreamHeader sets a header on every request to the provider.
func UpstreamHeader(name, value string) UpstreamOption {
	return func(u *Upstream) {
		if u.headers == nil {
			u.headers = http.Header{}
		}
		u.headers.Set(name, value)
	}
}

// RemoveUpstreamHeader takes name off this upstream's requests, after every header the gateway set.
func RemoveUpstreamHeader(name string) UpstreamOption {
	return func(u *Upstream) { u.removed = append(u.removed, http.CanonicalHeaderKey(name)) }
}

// Transport sends this upstream's requests through rt (default: the router's).
func Transport(rt http.RoundTripper) UpstreamOption { return func(u *Upstream) { u.rt = rt } }

// Handler serves this upstream in process: requests go to h without a network (demo providers, tests).
func Handler(h http.Handler) UpstreamOption {
	return func(u *Upstream) {
		u.rt = handlerTransport{h}
		if u.base == u.provider.DefaultBase() {
			u.base = "http://in-process/v1"
		}
	}
}

// finish validates the upstream and resolves its URL parts and key.
func (u *Upstream) finish() error {
	if len(u.errs) > 0 {
		return errors.Join(u.errs...)
	}
	b, err := url.Parse(u.base)
	if err != nil || (b.Scheme != "http" && b.Scheme != "https") || b.Host == "" || b.RawQuery != "" {
		return fmt.Errorf("base URL %q: want an absolute http(s) URL without a query", u.base)
	}
	u.scheme, u.hostport, u.basePath = b.Scheme, b.Host, strings.TrimSuffix(b.Path, "/")
	if u.host != "" {
		if strings.Contains(u.host, "/") {
			return fmt.Errorf("host override %q: want host:port", u.host)
		}
		u.hostport = u.host
		if u.base == u.provider.DefaultBase() {
			u.scheme = "http" // a host override of a cloud default is usually a local stub or proxy
			if strings.HasSuffix(u.host, ":443") {
				u.scheme = "https"
			}
		}
	}
	if u.prefix != nil {
		u.basePath = strings.TrimSuffix(*u.prefix, "/")
	}
	if u.path != "" && !strings.HasPrefix(u.path, "/") {
		return fmt.Errorf("path override %q must start with /", u.path)
	}
	if !u.keySet && !u.passKey && u.keyEnv != "" {
		u.key = os.Getenv(u.keyEnv)
	}
	return nil
}

// url is the upstream URL of an operation.
func (u *Upstream) url(op Operation) string {
	if u.path != "" && op == OpChat {
		return u.scheme + "://" + u.hostport + u.path
	}
	return u.scheme + "://" + u.hostport + u.basePath + u.provider.Path(op)
}

// Visibility says who may request a model by name.
type Visibility int

// Visibilities.
const (
	// Public models are listed and may be requested directly.
	Public Visibility = iota
	// Internal models are reachable only through virtual models.
	Internal
)

// ModelEntry is one configured model (see [Model]).
type ModelEntry struct {
	pattern    string
	upstream   *Upstream
	model      string
	visibility Visibility
	defaults   map[string]any
	overrides  map[string]any
	headers    http.Header
	removed    []string // RemoveRequestHeader
	health     health
	active     *ActiveHealthCheck // probes of the provider (active_health.go)
	gov        *modelGov          // guards and prompt caching of this model (aipolicy.go)
	// passthrough forwards requests unchanged (passthrough.go).
	passthrough PassthroughMode
	// matches, xforms: the entry's request matches and CEL transformations (model_match.go).
	matches [][]headerMatcher
	xforms  []transform
	err     error
	// serverTools: declared server tools fulfilled over MCP (servertools.go).
	serverTools *ServerTools
}

// ModelOption configures a model entry.
type ModelOption func(*ModelEntry)

// As sends this model name to the provider (the schema's params.model).
func As(upstreamModel string) ModelOption { return func(m *ModelEntry) { m.model = upstreamModel } }

// Visible sets the model's visibility (default Public).
func Visible(v Visibility) ModelOption { return func(m *ModelEntry) { m.visibility = v } }

// Defaults sets top-level fields of the client's request that it does not set (before any
// translation, so "temperature" or "max_tokens" work whatever the provider).
func Defaults(fields map[string]any) ModelOption {
	return func(m *ModelEntry) { m.defaults = merged(m.defaults, fields) }
}

// Overrides sets top-level fields of the client's request, replacing the client's values (a nil
// value removes the field).
func Overrides(fields map[string]any) ModelOption {
	return func(m *ModelEntry) { m.overrides = merged(m.overrides, fields) }
}

// RequestHeader sets a header on this model's requests to the provider.
func RequestHeader(name, value string) ModelOption {
	return func(m *ModelEntry) {
		if m.headers == nil {
			m.headers = http.Header{}
		}
		m.headers.Set(name, value)
	}
}

// RemoveRequestHeader takes name off the provider requests of this model, after every header the
// gateway set (agentgateway's requestHeaders.remove).
func RemoveRequestHeader(name string) ModelOption {
	return func(m *ModelEntry) { m.removed = append(m.removed, http.CanonicalHeaderKey(name)) }
}

// setProviderHeaders applies the upstream's and then the model's headers to a provider request;
// removals come last, so they also take off what the gateway set.
func setProviderHeaders(h http.Header, up *Upstream, m *ModelEntry) {
	for k, v := range up.headers {
		h[k] = v
	}
	for k, v := range m.headers {
		h[k] = v
	}
	for _, k := range up.removed {
		delete(h, k)
	}
	for _, k := range m.removed {
		delete(h, k)
	}
}

func merged(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// Option configures a [Router].
type Option func(*Router) error

// Model serves requests for name with up. name may end in "*": "gpt-*" matches every model with that
// prefix and passes the requested name on; "openai/*" (a prefix ending in "/") strips the prefix, so
// "openai/gpt-4o" reaches the provider as "gpt-4o"; "*" alone matches every model. Exact names win
// over patterns, and longer patterns over shorter ones.
func Model(name string, up *Upstream, opts ...ModelOption) Option {
	return func(r *Router) error {
		if name == "" {
			return fmt.Errorf("llm: a model needs a name")
		}
		if up == nil {
			return fmt.Errorf("llm: model %q: no provider", name)
		}
		if i := strings.IndexByte(name, '*'); i >= 0 && i != len(name)-1 {
			return fmt.Errorf("llm: model %q: '*' may only end a name", name)
		}
		m := &ModelEntry{pattern: name, upstream: up}
		for _, o := range opts {
			o(m)
		}
		r.models = append(r.models, m)
		return nil
	}
}

// Target is one model of a virtual model: a failover priority (lower first) or a weight.
type Target struct {
	Model    string
	Priority int
	Weight   int
}

// Failover serves the virtual model name from targets: the lowest priority group first, the next
// group when every target of a group failed (429, 5xx, timeout, connect error) or is evicted. A
// failing target is evicted for a back-off that doubles with each consecutive failure (1 s to 1 min,
// or the provider's Retry-After).
func Failover(name string, targets ...Target) Option {
	return virtualModel(name, "failover", targets)
}

// Weighted serves the virtual model name from targets chosen at random in proportion to their
// weights (default 1); a failing target is evicted as with Failover and the others are tried.
func Weighted(name string, targets ...Target) Option {
	return virtualModel(name, "weighted", targets)
}

func virtualModel(name, kind string, targets []Target) Option {
	return func(r *Router) error {
		if name == "" || len(targets) == 0 {
			return fmt.Errorf("llm: virtual model %q needs a name and targets", name)
		}
		r.virtuals = append(r.virtuals, &virtual{name: name, kind: kind, targets: targets})
		return nil
	}
}

// MaxBodyBytes bounds a request body (default [DefaultMaxBodyBytes]); larger ones are answered 413.
func MaxBodyBytes(n int64) Option { return func(r *Router) error { r.maxBody = n; return nil } }

// Timeout bounds the wait for a provider's response header (default: the gateway's backend timeout,
// State.BackendTimeout); a timed-out attempt fails over.
func Timeout(d time.Duration) Option { return func(r *Router) error { r.timeout = d; return nil } }

// RouterTransport sends requests through rt (default http.DefaultTransport, wrapped by the gateway's
// transport hook).
func RouterTransport(rt http.RoundTripper) Option {
	return func(r *Router) error { r.rt = rt; return nil }
}

// Logger sets the logger (default: the gateway's, else slog.Default()).
func Logger(l *slog.Logger) Option { return func(r *Router) error { r.logger = l; return nil } }
