package mcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
	"net/http"
	"strconv"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
)

// listKind describes one of the four list methods.
type listKind struct {
	method string
	kind   string // "tool", "prompt", "resource", "template"
}

var (
	toolsKind     = listKind{"tools/list", "tool"}
	promptsKind   = listKind{"prompts/list", "prompt"}
	resourcesKind = listKind{"resources/list", "resource"}
	templatesKind = listKind{"resources/templates/list", "template"}
)

// listKindOf returns the list method that lists items of a kind ("tool", "prompt", "resource").
func listKindOf(kind string) *listKind {
	switch kind {
	case "prompt":
		return &promptsKind
	case "resource":
		return &resourcesKind
	}
	return &toolsKind
}

// listPage decodes one upstream page of any list method into the go-sdk item types.
type listPage struct {
	Tools             []*sdk.Tool             `json:"tools"`
	Prompts           []*sdk.Prompt           `json:"prompts"`
	Resources         []*sdk.Resource         `json:"resources"`
	ResourceTemplates []*sdk.ResourceTemplate `json:"resourceTemplates"`
	NextCursor        string                  `json:"nextCursor"`
	// The target's caching hints (SEP-2549); TTLMs is nil when the target gave none.
	TTLMs      *int   `json:"ttlMs"`
	CacheScope string `json:"cacheScope"`
	// extras are tool fields the go-sdk does not model (apps.go).
	extras toolExtras
}

// mergeCache folds one page's caching hints into the list's: the shortest TTL wins, a page without a
// TTL makes the whole list immediately stale, and one private page makes the list private.
func (p *listPage) mergeCache(page *listPage, first bool) {
	switch {
	case page.TTLMs == nil:
		zero := 0
		p.TTLMs = &zero
	case first || (p.TTLMs != nil && *page.TTLMs < *p.TTLMs):
		ttl := *page.TTLMs
		p.TTLMs = &ttl
	}
	if page.CacheScope == "private" || p.CacheScope == "" {
		p.CacheScope = page.CacheScope
	}
}

// cacheable is the merged list's hint as the go-sdk writes it: ttlMs always present, cacheScope
// defaulting to "public".
func (p *listPage) cacheable() sdk.Cacheable {
	c := sdk.Cacheable{CacheScope: p.CacheScope}
	if p.TTLMs != nil {
		c.TTLMs = *p.TTLMs
	}
	if c.CacheScope != "private" {
		c.CacheScope = "public"
	}
	return c
}

// maxUpstreamPages bounds how many pages the gateway follows per target and list.
const maxUpstreamPages = 100

// list answers a list method: fan out to every target, follow every upstream page, merge under the
// federation's names, filter, then page the merged list with the gateway's own cursor.
func (f *Federation) list(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, lk *listKind, env envelope, body []byte, out reply) error {
	id := env.id.of(body)
	offset := 0
	if c := stringField(body, env.params, "cursor"); c != "" {
		n, ok := decodeCursor(c)
		if !ok {
			out.final(rpcmsg.Error(id, codeInvalidParams, "invalid cursor"))
			return nil
		}
		offset = n
	}
	m, err := f.merged(ctx, r, st, sess, lk)
	if err != nil {
		out.final(rpcmsg.Error(id, codeInternal, err.Error()))
		return err
	}
	total := m.len()
	offset = min(offset, total)
	end := min(offset+f.cfg.PageSize, total)
	next := ""
	if end < total {
		next = encodeCursor(end)
	}
	var res any
	cache := m.cacheable()
	switch lk {
	case &toolsKind:
		res = &sdk.ListToolsResult{Tools: m.Tools[offset:end], NextCursor: next, Cacheable: cache}
	case &promptsKind:
		res = &sdk.ListPromptsResult{Prompts: m.Prompts[offset:end], NextCursor: next, Cacheable: cache}
	case &resourcesKind:
		res = &sdk.ListResourcesResult{Resources: m.Resources[offset:end], NextCursor: next, Cacheable: cache}
	default:
		res = &sdk.ListResourceTemplatesResult{ResourceTemplates: m.ResourceTemplates[offset:end], NextCursor: next, Cacheable: cache}
	}
	b, err := json.Marshal(res)
	if err == nil && lk == &toolsKind {
		b, err = m.withToolExtras(b, m.Tools[offset:end])
	}
	if err != nil {
		out.final(rpcmsg.Error(id, codeInternal, err.Error()))
		return err
	}
	out.final(rpcmsg.Result(id, b))
	return nil
}

func (p *listPage) len() int {
	return len(p.Tools) + len(p.Prompts) + len(p.Resources) + len(p.ResourceTemplates)
}

func encodeCursor(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("agw:" + strconv.Itoa(n)))
}

func decodeCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 5 || string(b[:4]) != "agw:" {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[4:]))
	return n, err == nil && n >= 0
}

// merged fetches every target's complete list and merges it under client-facing names.
func (f *Federation) merged(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, lk *listKind) (*listPage, error) {
	pages := make([]listPage, len(f.targets))
	errs := f.fanOut(ctx, sess, func(ctx context.Context, t *target, up upstream) error {
		return f.fetchAll(ctx, t, up, lk, &pages[t.idx])
	})
	if err := f.fanOutErr(errs); err != nil {
		return nil, err
	}
	if lk == &toolsKind || lk == &promptsKind {
		// A client's list refreshes what calls are checked against (knows), before names are exposed.
		for i, t := range f.targets {
			if errs[i] == nil {
				sess.setKnown(lk.kind, t, knownFrom(lk.kind, &pages[i]))
			}
		}
	}
	az := f.authorizer(r, st)
	m := &listPage{Tools: []*sdk.Tool{}, Prompts: []*sdk.Prompt{}, Resources: []*sdk.Resource{}, ResourceTemplates: []*sdk.ResourceTemplate{}}
	never := f.cfg.Prefix == PrefixNever && len(f.targets) > 1
	owner := map[string]int{} // PrefixNever: name → target, -1 when shared
	first := true
	for i, t := range f.targets {
		if errs[i] != nil {
			continue
		}
		p := &pages[i]
		m.mergeCache(p, first)
		m.takeToolExtras(p)
		first = false
		for _, tool := range p.Tools {
			if tool == nil {
				continue
			}
			exposed, ok := t.exposeTool(tool.Name)
			if !ok || !az.allows("tool", t.Name, tool.Name) {
				continue
			}
			if d, ok := t.Tools.Descriptions[tool.Name]; ok {
				tool.Description = d
			}
			tool.Name = f.exposeName(t, exposed)
			f.exposeToolUI(t, tool, az)
			m.Tools = append(m.Tools, tool)
			noteOwner(owner, "tool:"+tool.Name, i)
		}
		for _, pr := range p.Prompts {
			if pr == nil || !az.allows("prompt", t.Name, pr.Name) {
				continue
			}
			pr.Name = f.exposeName(t, pr.Name)
			m.Prompts = append(m.Prompts, pr)
			noteOwner(owner, "prompt:"+pr.Name, i)
		}
		for _, rs := range p.Resources {
			if rs == nil || !az.allows("resource", t.Name, rs.URI) {
				continue
			}
			rs.URI = f.exposeURI(t, rs.URI)
			m.Resources = append(m.Resources, rs)
			noteOwner(owner, "resource:"+rs.URI, i)
		}
		for _, rt := range p.ResourceTemplates {
			if rt == nil || !az.allows("resource", t.Name, rt.URITemplate) {
				continue
			}
			rt.URITemplate = f.exposeURI(t, rt.URITemplate)
			m.ResourceTemplates = append(m.ResourceTemplates, rt)
		}
	}
	if az != nil {
		// The list was filtered for this caller: no one else may be served it from a cache.
		m.CacheScope = "private"
	}
	if never {
		m.Tools = dropShared(f, owner, "tool", m.Tools, func(x *sdk.Tool) string { return x.Name })
		m.Prompts = dropShared(f, owner, "prompt", m.Prompts, func(x *sdk.Prompt) string { return x.Name })
		m.Resources = dropShared(f, owner, "resource", m.Resources, func(x *sdk.Resource) string { return x.URI })
		sess.mu.Lock()
		if sess.names == nil {
			sess.names = map[string]int{}
		}
		for k, v := range owner {
			sess.names[k] = v
		}
		sess.mu.Unlock()
	}
	return m, nil
}

func noteOwner(owner map[string]int, key string, i int) {
	if prev, ok := owner[key]; ok && prev != i {
		owner[key] = -1
		return
	}
	owner[key] = i
}

func dropShared[T any](f *Federation, owner map[string]int, kind string, items []T, name func(T) string) []T {
	out := items[:0]
	for _, it := range items {
		if owner[kind+":"+name(it)] < 0 {
			f.logger().Warn("mcp: dropping a name that several targets share (prefixMode never)", "kind", kind, "name", name(it))
			continue
		}
		out = append(out, it)
	}
	return out
}

func (f *Federation) exposeName(t *target, name string) string {
	if f.prefixed() {
		return t.Name + "_" + name
	}
	return name
}

func (f *Federation) exposeURI(t *target, uri string) string {
	if f.prefixed() {
		return exposedURI(t, uri)
	}
	return uri
}

// fetchAll follows a target's pages of one list.
func (f *Federation) fetchAll(ctx context.Context, t *target, up upstream, lk *listKind, into *listPage) error {
	if f.pinFailed(t) != nil {
		return nil // a target failed by pinning lists nothing
	}
	cursor := ""
	for range maxUpstreamPages {
		params := []byte("{}")
		if cursor != "" {
			params = append(append([]byte(`{"cursor":`), quoted(cursor)...), '}')
		}
		resp, err := callTarget(ctx, t, up, rpcmsg.Request(newGatewayID(), lk.method, params), nil)
		if err != nil {
			return err
		}
		env, err := parseEnvelope(resp)
		if err != nil {
			return fmt.Errorf("%s: invalid response: %w", lk.method, err)
		}
		if env.err.ok() {
			if stringField(resp, env.err, "message") != "" && isMethodNotFound(resp, env) {
				return nil // the target has none of these
			}
			return fmt.Errorf("%s: %s", lk.method, stringField(resp, env.err, "message"))
		}
		var p listPage
		if err := json.Unmarshal(env.result.of(resp), &p); err != nil {
			return fmt.Errorf("%s: decoding result: %w", lk.method, err)
		}
		p.keepToolExtras(env.result.of(resp))
		into.takeToolExtras(&p)
		into.Tools = append(into.Tools, p.Tools...)
		into.Prompts = append(into.Prompts, p.Prompts...)
		into.Resources = append(into.Resources, p.Resources...)
		into.ResourceTemplates = append(into.ResourceTemplates, p.ResourceTemplates...)
		into.mergeCache(&p, cursor == "")
		if p.NextCursor == "" || p.NextCursor == cursor {
			if lk == &toolsKind {
				f.afterToolList(t, into)
			}
			return nil
		}
		cursor = p.NextCursor
	}
	if lk == &toolsKind {
		f.afterToolList(t, into)
	}
	return nil
}

func isMethodNotFound(resp []byte, env envelope) bool {
	return string(field(resp, env.err, "code").of(resp)) == strconv.Itoa(codeMethodNotFound)
}

// initialize opens the client's session: every target is initialized concurrently with the client's
// capabilities; the answer carries the client's protocol version (see versions.go) and the merged
// capabilities.
func (f *Federation) initialize(ctx context.Context, r *http.Request, st *agentgateway.State, env envelope, body []byte, legacy *session, out reply) {
	id := env.id.of(body)
	ver := stringField(body, env.params, "protocolVersion")
	if !supportedVersion(ver) {
		ver = LatestProtocolVersion
	}
	// Only what re-initializing a target needs is kept: it travels in the session id.
	params, err := compactInit(env.params.of(body), ver)
	if err != nil {
		out.final(rpcmsg.Error(id, codeInvalidParams, err.Error()))
		return
	}
	sess := legacy
	if sess == nil {
		sess = f.newSession(ver, params)
	} else {
		sess.version, sess.init = ver, params
	}
	results := make([][]byte, len(f.targets))
	var mu sync.Mutex
	errs := make([]error, len(f.targets))
	var wg sync.WaitGroup
	for _, t := range f.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sl := &sess.slots[t.idx]
			sl.mu.Lock()
			defer sl.mu.Unlock()
			sl.started = time.Now()
			up, res, err := f.initUpstream(ctx, sess, t)
			if err != nil {
				errs[t.idx] = err
				sl.down = true
				return
			}
			sl.up = up
			mu.Lock()
			results[t.idx] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := f.fanOutErr(errs); err != nil {
		sess.close()
		out.final(rpcmsg.Error(id, codeInternal, err.Error()))
		return
	}
	res := f.mergeInitialize(ver, results)
	b, err := json.Marshal(res)
	if tc := mergeTaskCapabilities(results); err == nil && tc != nil {
		b, err = withCapability(b, "tasks", tc)
	}
	if err != nil {
		sess.close()
		out.final(rpcmsg.Error(id, codeInternal, err.Error()))
		return
	}
	switch {
	case legacy != nil:
		go f.pumpLegacy(sess)
	case f.cfg.Stateless:
		sess.close()
	default:
		sid, err := f.seal(sess.token())
		if err != nil {
			sess.close()
			out.final(rpcmsg.Error(id, codeInternal, err.Error()))
			return
		}
		sess.key = digestID(sid)
		f.sessions.put(sess)
		st.MCP.SessionID = sid
		if pr, ok := out.(*postReply); ok {
			pr.w.Header().Set("Mcp-Session-Id", sid)
		}
	}
	out.final(rpcmsg.Result(id, b))
}

// mergeInitialize merges the targets' initialize results.
func (f *Federation) mergeInitialize(ver string, results [][]byte) *sdk.InitializeResult {
	info := f.cfg.ServerInfo
	res := &sdk.InitializeResult{ProtocolVersion: ver, ServerInfo: &info, Capabilities: &sdk.ServerCapabilities{}}
	caps := res.Capabilities
	instructions := f.cfg.Instructions
	for i, raw := range results {
		if raw == nil {
			continue
		}
		var r sdk.InitializeResult
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		if r.Instructions != "" {
			if instructions != "" {
				instructions += "\n\n"
			}
			if len(f.targets) > 1 {
				instructions += "## " + f.targets[i].Name + "\n"
			}
			instructions += r.Instructions
		}
		c := r.Capabilities
		if c == nil {
			continue
		}
		if c.Tools != nil {
			if caps.Tools == nil {
				caps.Tools = &sdk.ToolCapabilities{}
			}
			caps.Tools.ListChanged = caps.Tools.ListChanged || c.Tools.ListChanged
		}
		if c.Prompts != nil {
			if caps.Prompts == nil {
				caps.Prompts = &sdk.PromptCapabilities{}
			}
			caps.Prompts.ListChanged = caps.Prompts.ListChanged || c.Prompts.ListChanged
		}
		if c.Resources != nil {
			if caps.Resources == nil {
				caps.Resources = &sdk.ResourceCapabilities{}
			}
			caps.Resources.ListChanged = caps.Resources.ListChanged || c.Resources.ListChanged
			caps.Resources.Subscribe = caps.Resources.Subscribe || c.Resources.Subscribe
		}
		if c.Logging != nil {
			caps.Logging = &sdk.LoggingCapabilities{}
		}
		if c.Completions != nil {
			caps.Completions = &sdk.CompletionCapabilities{}
		}
		for k, v := range c.Extensions {
			if caps.Extensions == nil {
				caps.Extensions = map[string]any{}
			}
			if _, ok := caps.Extensions[k]; !ok {
				caps.Extensions[k] = v
			}
		}
		for k, v := range c.Experimental {
			if caps.Experimental == nil {
				caps.Experimental = map[string]any{}
			}
			caps.Experimental[k] = v
		}
	}
	res.Instructions = instructions
	return res
}
