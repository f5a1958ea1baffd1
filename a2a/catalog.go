package a2a

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// Agent is one agent listed by a [Catalog].
type Agent struct {
	// Name identifies the agent in the catalog.
	Name string
	// Path is the agent's path prefix behind the gateway (e.g. "/agents/theme"): catalog entries point
	// there, as the agent's own route does.
	Path string
	// Upstream reaches the agent itself (usually the same agentgateway.HTTP backend as its route): the
	// catalog reads the agent's card from it and forwards skill-routed calls to it.
	Upstream http.Handler
}

// cardTTL is how long the catalog keeps an agent card before reading it again.
const cardTTL = 30 * time.Second

// maxOwners bounds the catalog's task → agent table.
const maxOwners = 100_000

// CatalogHandler lists agents and routes messages to them by skill. See [Catalog].
type CatalogHandler struct {
	agents []*catalogAgent
	o      options
	err    error

	mu     sync.Mutex
	owners map[string]*catalogAgent // task id → the agent that owns it
}

type catalogAgent struct {
	Agent
	proxy *proxy

	mu      sync.Mutex
	card    map[string]any // the agent's card as served by it (not rewritten)
	rpcPath string         // path of its JSON-RPC endpoint, from the card
	fetched time.Time
}

// Catalog returns a handler that lists every agent with its rewritten card and routes messages by
// skill. Mount it on its own route (e.g. PathPrefix("/catalog")):
//
//   - GET  <route>/                               {"agents":[{"name","url","card"}]}, cards rewritten to
//     point at each agent's Path behind the gateway;
//   - GET  <route>/.well-known/agent-card.json    a card for the catalog itself, listing the skills of all
//     agents, whose url is the catalog: any A2A client can talk to the catalog as to one agent;
//   - POST <route>                                JSON-RPC. message/send and message/stream (and their v1.0
//     names) go to the agent whose card lists the requested skill, by skill id first, then by tag.
//     The skill is taken from, in order: the "A2A-Skill" header, the "skill" query parameter,
//     params.metadata.skill, params.message.metadata.skill. Later calls about a task (get, cancel,
//     resubscribe, push configs) go to the agent that created it, which the catalog learns from the
//     agent's answer (tasks it has not seen get A2A's "task not found", -32001).
//
// Options: the card options ([PublicURL] — the catalog's own public URL, [TrustedProxies]) and the
// call options ([MaxBodyBytes], [StreamIdleTimeout], [Authorize], [AllowMethods], [Logger]) apply.
func Catalog(agents []Agent, opts ...Option) *CatalogHandler {
	o := buildOptions(opts)
	c := &CatalogHandler{o: o, owners: map[string]*catalogAgent{}}
	var errs []error
	seen := map[string]bool{}
	for i, a := range agents {
		switch {
		case a.Name == "" || seen[a.Name]:
			errs = append(errs, fmt.Errorf("%w: agents[%d]: name %q must be set and unique", ErrInvalidAgent, i, a.Name))
		case !strings.HasPrefix(a.Path, "/"):
			errs = append(errs, fmt.Errorf("%w: agents[%d] (%s): path %q must start with /", ErrInvalidAgent, i, a.Name, a.Path))
		case a.Upstream == nil:
			errs = append(errs, fmt.Errorf("%w: agents[%d] (%s): no upstream", ErrInvalidAgent, i, a.Name))
		}
		seen[a.Name] = true
		ao := o
		ao.publicURL = nil // forwarded calls are not card reads; the catalog rewrites cards itself
		c.agents = append(c.agents, &catalogAgent{Agent: a, proxy: newProxy(a.Upstream, ao)})
	}
	p := newProxy(http.NotFoundHandler(), o)
	if p.err != nil {
		errs = append(errs, p.err)
	}
	c.err = errors.Join(errs...)
	return c
}

// Validate reports configuration errors (agentgateway.Validator).
func (c *CatalogHandler) Validate() error { return c.err }

// card returns the agent's card, reading it again after cardTTL.
func (a *catalogAgent) fetchCard(ctx context.Context) (map[string]any, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.card != nil && time.Since(a.fetched) < cardTTL {
		return a.card, a.rpcPath, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, CardPath, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set(VersionHeader, V10) // servers that speak both prefer their v1.0 card; both shapes are read
	req.Header.Set("Accept", "application/json")
	st := &agentgateway.State{}
	rec := newBuffered(maxCardBytes)
	a.Upstream.ServeHTTP(rec, req.WithContext(agentgateway.WithState(ctx, st)))
	if rec.status != http.StatusOK || rec.overflow {
		return nil, "", fmt.Errorf("a2a: agent %s: card: HTTP %d", a.Name, rec.status)
	}
	v, err := decodeAny(rec.buf.Bytes())
	card := asObj(v)
	if err != nil || card == nil {
		return nil, "", fmt.Errorf("a2a: agent %s: card is not a JSON object", a.Name)
	}
	rpc := cardRPCURL(card)
	path := "/"
	if u, err := url.Parse(rpc); err == nil && u.Path != "" {
		path = u.Path
	}
	a.card, a.rpcPath, a.fetched = card, path, time.Now()
	return card, path, nil
}

// cardRPCURL is the agent's JSON-RPC URL: v0.3 "url", or the first JSON-RPC v1.0 interface.
func cardRPCURL(card obj) string {
	if u, ok := card["url"].(string); ok && u != "" {
		return u
	}
	for _, i := range asList(card["supportedInterfaces"]) {
		ai := asObj(i)
		if strings.EqualFold(fmt.Sprint(ai["protocolBinding"]), "JSONRPC") {
			if u, ok := ai["url"].(string); ok {
				return u
			}
		}
	}
	return ""
}

// hasSkill reports whether the card lists skill as an id (2) or a tag (1).
func hasSkill(card obj, skill string) int {
	best := 0
	for _, s := range asList(card["skills"]) {
		sk := asObj(s)
		if sk["id"] == skill {
			return 2
		}
		for _, tag := range asList(sk["tags"]) {
			if tag == skill {
				best = 1
			}
		}
	}
	return best
}

// ServeHTTP implements http.Handler.
func (c *CatalogHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st, r := stateOf(r)
	if c.err != nil {
		st.Err = c.err
		agentgateway.WriteError(w, http.StatusInternalServerError, "a2a: invalid catalog configuration")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if isCardPath(r.URL.Path) {
			c.serveOwnCard(w, r, st)
		} else {
			c.serveList(w, r, st)
		}
	case http.MethodPost:
		c.serveCall(w, r, st)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		agentgateway.WriteError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// gatewayBase is scheme://host of the request (trusted forwarding headers honoured), without a path.
func (c *CatalogHandler) gatewayBase(r *http.Request, st *agentgateway.State) string {
	p := &proxy{o: c.o}
	if c.o.publicURL != nil {
		u := *c.o.publicURL
		u.Path, u.RawPath = "", ""
		return strings.TrimSuffix(u.String(), "/")
	}
	base, _ := p.publicBase(r, st, "")
	return base
}

// catalogBase is the catalog's own public URL.
func (c *CatalogHandler) catalogBase(r *http.Request, st *agentgateway.State) string {
	p := &proxy{o: c.o}
	base, _ := p.publicBase(r, st, routePrefix(r, st))
	return base
}

type catalogEntry struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	Card  any    `json:"card,omitempty"`
	Error string `json:"error,omitempty"`
}

func (c *CatalogHandler) entries(r *http.Request, st *agentgateway.State) []catalogEntry {
	gw := c.gatewayBase(r, st)
	out := make([]catalogEntry, 0, len(c.agents))
	for _, a := range c.agents {
		base := gw + strings.TrimSuffix(a.Path, "/")
		e := catalogEntry{Name: a.Name, URL: base + "/"}
		card, _, err := a.fetchCard(r.Context())
		if err != nil {
			e.Error = "agent card unavailable"
			c.o.logger.Warn("a2a catalog: agent card unavailable", "agent", a.Name, "error", err)
			out = append(out, e)
			continue
		}
		raw, _ := json.Marshal(card)
		rewritten, err := transformCard(raw, cardOptions{base: base, prefix: strings.TrimSuffix(a.Path, "/"), rewrite: true, stripSignatures: c.o.stripSignatures})
		if err != nil && !errors.Is(err, ErrSignedCard) {
			e.Error = "invalid agent card"
			out = append(out, e)
			continue
		}
		e.Card = json.RawMessage(rewritten)
		out = append(out, e)
	}
	return out
}

func (c *CatalogHandler) serveList(w http.ResponseWriter, r *http.Request, st *agentgateway.State) {
	writeJSON(w, struct {
		Agents []catalogEntry `json:"agents"`
	}{c.entries(r, st)})
}

func (c *CatalogHandler) serveOwnCard(w http.ResponseWriter, r *http.Request, st *agentgateway.State) {
	var skills []any
	streaming := false
	for _, a := range c.agents {
		card, _, err := a.fetchCard(r.Context())
		if err != nil {
			continue
		}
		skills = append(skills, asList(card["skills"])...)
		if b, _ := asObj(card["capabilities"])["streaming"].(bool); b {
			streaming = true
		}
	}
	if skills == nil {
		skills = []any{}
	}
	base := c.catalogBase(r, st)
	card := obj{
		"name":               "agentgateway catalog",
		"description":        "Routes each message to the agent that offers the requested skill (A2A-Skill header, ?skill=, or metadata.skill).",
		"version":            "1.0.0",
		"capabilities":       obj{"streaming": streaming},
		"defaultInputModes":  []any{"text/plain"},
		"defaultOutputModes": []any{"text/plain"},
		"skills":             skills,
	}
	if cardClientVersion(r) == V10 {
		card["supportedInterfaces"] = []any{obj{"url": base + "/", "protocolBinding": "JSONRPC", "protocolVersion": V10}}
	} else {
		card["url"], card["preferredTransport"], card["protocolVersion"] = base+"/", "JSONRPC", "0.3.0"
	}
	w.Header().Add("Vary", VersionHeader)
	writeJSON(w, card)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		agentgateway.WriteError(w, http.StatusInternalServerError, "encoding failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (c *CatalogHandler) serveCall(w http.ResponseWriter, r *http.Request, st *agentgateway.State) {
	buf := new(bytes.Buffer)
	body, call, ok := readCall(w, r, st, &c.o, buf)
	if !ok {
		return
	}
	skill := r.Header.Get("A2A-Skill")
	if skill == "" {
		skill = r.URL.Query().Get("skill")
	}
	if skill == "" {
		skill = call.Skill
	}
	var target *catalogAgent
	switch call.Method {
	case "message/send", "message/stream", "SendMessage", "SendStreamingMessage":
		if call.TaskID != "" {
			target = c.owner(call.TaskID)
		}
		if target == nil {
			if skill == "" {
				st.Err = ErrNoSkill
				writeRPCError(w, http.StatusOK, call.ID, CodeInvalidParams, "Invalid params: name a skill (A2A-Skill header, ?skill= or metadata.skill)")
				return
			}
			st.A2A.Skill = skill
			target = c.bySkill(r.Context(), skill)
			if target == nil {
				st.Err = ErrNoSkill
				writeRPCError(w, http.StatusOK, call.ID, CodeInvalidParams, "Invalid params: no agent offers skill "+truncate(skill, 64))
				return
			}
		}
	default:
		if call.TaskID != "" {
			target = c.owner(call.TaskID)
		}
		if target == nil {
			st.Err = ErrUnknownTask
			writeRPCError(w, http.StatusOK, call.ID, -32001, "Task not found")
			return
		}
	}
	_, rpcPath, err := target.fetchCard(r.Context())
	if err != nil {
		st.Err = err
		writeRPCError(w, http.StatusBadGateway, call.ID, CodeUpstream, "Upstream error: agent card unavailable")
		return
	}
	if !target.proxy.authorize(w, r, st, call) {
		return
	}
	up := r.Clone(r.Context())
	up.URL.Path, up.URL.RawPath, up.URL.RawQuery = rpcPath, "", ""
	up.Header.Del("A2A-Skill")
	sn := &ownerSniffer{stream: call.Stream}
	if call.Stream {
		openStreams.Add(1)
		defer openStreams.Add(-1)
	}
	up, end := target.proxy.startCall(up, st, call)
	defer end()
	target.proxy.forward(w, up, body, call, sn)
	if id := sn.taskID(); id != "" {
		c.remember(id, target)
	}
}

func (c *CatalogHandler) bySkill(ctx context.Context, skill string) *catalogAgent {
	var tagged *catalogAgent
	for _, a := range c.agents {
		card, _, err := a.fetchCard(ctx)
		if err != nil {
			continue
		}
		switch hasSkill(card, skill) {
		case 2:
			return a
		case 1:
			if tagged == nil {
				tagged = a
			}
		}
	}
	return tagged
}

func (c *CatalogHandler) owner(task string) *catalogAgent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owners[task]
}

func (c *CatalogHandler) remember(task string, a *catalogAgent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.owners) >= maxOwners {
		// Forget an arbitrary half: old tasks are the likely majority, and the table stays bounded.
		n := 0
		for k := range c.owners {
			delete(c.owners, k)
			if n++; n >= maxOwners/2 {
				break
			}
		}
	}
	c.owners[task] = a
}

// ownerSniffer keeps the start of a response to learn the task id the agent assigned.
type ownerSniffer struct {
	stream bool
	head   []byte
	found  string
	done   bool
}

const sniffLimit = 64 << 10

// observe sees each part of the response body as it goes to the client.
func (s *ownerSniffer) observe(b []byte) {
	if s.done {
		return
	}
	n := min(len(b), sniffLimit-len(s.head))
	s.head = append(s.head, b[:n]...)
	if len(s.head) >= sniffLimit {
		s.done = true
	}
	if s.stream {
		if i := bytes.Index(s.head, []byte("\n\n")); i >= 0 {
			s.found = taskIDOf(sseData(s.head[:i]))
			s.done = true
		}
	}
}

func (s *ownerSniffer) taskID() string {
	if s.found != "" || s.stream {
		return s.found
	}
	return taskIDOf(s.head)
}

func sseData(event []byte) []byte {
	var data []byte
	for _, line := range bytes.Split(event, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if bytes.HasPrefix(line, []byte("data:")) {
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		}
	}
	return data
}

// taskIDOf finds the task id in a JSON-RPC response of either version.
func taskIDOf(resp []byte) string {
	type ref struct {
		ID     string `json:"id"`
		TaskID string `json:"taskId"`
	}
	var env struct {
		Result struct {
			Kind   string `json:"kind"`
			ID     string `json:"id"`
			TaskID string `json:"taskId"`
			Task   *ref   `json:"task"`
			Msg    *ref   `json:"message"`
			Status *ref   `json:"statusUpdate"`
			Art    *ref   `json:"artifactUpdate"`
		} `json:"result"`
	}
	if json.Unmarshal(resp, &env) != nil {
		return ""
	}
	res := env.Result
	switch {
	case res.Kind == "task":
		return res.ID
	case res.TaskID != "":
		return res.TaskID
	case res.Task != nil:
		return res.Task.ID
	case res.Status != nil:
		return res.Status.TaskID
	case res.Art != nil:
		return res.Art.TaskID
	case res.Msg != nil:
		return res.Msg.TaskID
	}
	return ""
}
