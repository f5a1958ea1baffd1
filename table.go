package agentgateway

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/agentgw/agentgateway/internal/proxy"
)

// snapshot is one compiled, immutable configuration. Requests load it once and finish on it; Apply
// builds a new one and swaps the pointer.
type snapshot struct {
	cfg    Config
	byPort map[int]*hostIndex[*compiledListener]
	// anyPort serves requests on a port no listener names: only port-less listeners are in it.
	anyPort *hostIndex[*compiledListener]
	// tlsByPort indexes each TLS port's listeners by hostname, to pick a certificate by SNI.
	tlsByPort map[int]*hostIndex[*compiledListener]
	// plans says how each port is served (l4.go): HTTP, TCP and TLS listeners, CONNECT, internal.
	plans    map[int]*portPlan
	closers  []io.Closer
	inflight atomic.Int64
}

type compiledListener struct {
	name  string
	port  int
	tls   *tls.Config               // the listener's server TLS, with defaults filled in; nil when plain
	hosts *hostIndex[[]*routeTable] // host-specific routes first, then the routes for any host
}

type compiledRoute struct {
	name     string
	listener string
	handler  http.Handler
}

// hostIndex finds the most specific entry for a host: exact, then the longest wildcard, then any.
type hostIndex[T any] struct {
	exact    map[string]T
	wildcard []wildcardEntry[T] // longest suffix first
	any      T
	hasAny   bool
}

type wildcardEntry[T any] struct {
	suffix string // ".example.com" for "*.example.com"
	v      T
}

func (h *hostIndex[T]) lookup(host string) (T, bool) {
	if v, ok := h.exact[host]; ok {
		return v, true
	}
	for i := range h.wildcard {
		if len(host) > len(h.wildcard[i].suffix) && strings.HasSuffix(host, h.wildcard[i].suffix) {
			return h.wildcard[i].v, true
		}
	}
	return h.any, h.hasAny
}

// routeTable indexes route matches by path for a lookup without allocation: a map probe for exact
// paths, one map probe per path segment for prefixes, and a short list of regexes.
type routeTable struct {
	exact  map[string][]*entry
	prefix map[string][]*entry // keyed by the prefix without its trailing slash; "/" is ""
	regex  []*entry
}

type entry struct {
	route   *compiledRoute
	prefix  string // normalised matched prefix, for State.MatchedPrefix
	plen    int
	re      *regexp.Regexp
	method  string
	headers []valueMatcher
	query   []valueMatcher
	order   int
}

type valueMatcher struct {
	name  string // canonical header name, or query parameter name
	value string
	re    *regexp.Regexp
}

func (m *valueMatcher) matches(v string) bool {
	if m.re != nil {
		return m.re.MatchString(v)
	}
	return v == m.value
}

func (e *entry) matchesRest(r *http.Request) bool {
	if e.method != "" && r.Method != e.method {
		return false
	}
	for i := range e.headers {
		vs := r.Header[e.headers[i].name]
		if len(vs) == 0 || !e.headers[i].matches(vs[0]) {
			return false
		}
	}
	for i := range e.query {
		v, ok := queryValue(r.URL.RawQuery, e.query[i].name)
		if !ok || !e.query[i].matches(v) {
			return false
		}
	}
	return true
}

// queryValue returns the first value of key in a raw query without building url.Values.
func queryValue(raw, key string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			uk, err := url.QueryUnescape(k)
			if err != nil {
				continue
			}
			k = uk
		}
		if k != key {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				return "", false
			}
			v = uv
		}
		return v, true
	}
	return "", false
}

// lookup finds the route for r in the tables, in Gateway API precedence order.
func lookup(tables []*routeTable, r *http.Request) *entry {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	for _, t := range tables {
		for _, e := range t.exact[path] {
			if e.matchesRest(r) {
				return e
			}
		}
		for _, e := range t.regex {
			if e.re.MatchString(path) && e.matchesRest(r) {
				return e
			}
		}
		// A prefix matches whole segments: probe the path itself, then each prefix that ends just
		// before a '/', longest first ("/a/b" → "/a/b", "/a", "").
		q := path
		for {
			for _, e := range t.prefix[q] {
				if e.matchesRest(r) {
					return e
				}
			}
			i := strings.LastIndexByte(q, '/')
			if i < 0 {
				break
			}
			q = q[:i]
		}
	}
	return nil
}

// precedence orders entries sharing a path key: method first, then more header matches, then more
// query matches, then definition order (Gateway API HTTPRoute rules).
func precedence(a, b *entry) int {
	if c := cmp.Compare(b.plen, a.plen); c != 0 {
		return c
	}
	am, bm := a.method != "", b.method != ""
	if am != bm {
		if am {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(len(b.headers), len(a.headers)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.query), len(a.query)); c != 0 {
		return c
	}
	return cmp.Compare(a.order, b.order)
}

type compiler struct {
	rnd    func(n int) int
	errs   []error
	order  int
	closer map[io.Closer]struct{}
}

func (c *compiler) errf(path, format string, args ...any) {
	c.errs = append(c.errs, Errorf(path, format, args...))
}

func compile(cfg Config, rnd func(int) int) (*snapshot, error) {
	c := &compiler{rnd: rnd, closer: map[io.Closer]struct{}{}}
	s := &snapshot{cfg: cfg, byPort: map[int]*hostIndex[*compiledListener]{}}
	type portListener struct {
		l    *compiledListener
		port int
		cfg  *ListenerConfig
		path string
		idx  int // in cfg.Listeners
	}
	var all []portListener
	names := map[string]bool{}
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		path := fmt.Sprintf("listeners[%d]", i)
		if lc.Port < 0 || lc.Port > 65535 {
			c.errf(path+".port", "port %d out of range", lc.Port)
		}
		key := fmt.Sprintf("%d/%s", lc.Port, lc.Name)
		if names[key] {
			c.errf(path+".name", "duplicate listener %q on port %d", lc.Name, lc.Port)
		}
		names[key] = true
		if lc.Protocol != ProtocolHTTP {
			continue // TCP and TLS listeners are compiled by l4Plans
		}
		c.addHosts(lc.Hostnames, path+".hostnames", func(string) {}, func(string) {}, func() {})
		l := c.listener(lc, path)
		all = append(all, portListener{l, lc.Port, lc, path, i})
	}
	build := func(port int) *hostIndex[*compiledListener] {
		idx := &hostIndex[*compiledListener]{exact: map[string]*compiledListener{}}
		// On a named port its own listeners win over port-less ones with the same hostname. A request on
		// a port no listener names (an httptest server, say) is served by the port-less listeners only:
		// never by another port's listener, whose routes may be meant for an internal port.
		passes := []func(int) bool{func(p int) bool { return p == 0 }}
		if port != 0 {
			passes = []func(int) bool{func(p int) bool { return p == port }, func(p int) bool { return p == 0 }}
		}
		for _, in := range passes {
			for _, pl := range all {
				if !in(pl.port) {
					continue
				}
				c.addHosts(pl.cfg.Hostnames, "", func(h string) {
					if _, dup := idx.exact[h]; !dup {
						idx.exact[h] = pl.l
					}
				}, func(suffix string) {
					idx.wildcard = append(idx.wildcard, wildcardEntry[*compiledListener]{suffix, pl.l})
				}, func() {
					if !idx.hasAny {
						idx.any, idx.hasAny = pl.l, true
					}
				})
			}
		}
		sortWildcards(idx)
		return idx
	}
	s.anyPort = build(0)
	for _, pl := range all {
		if pl.port != 0 {
			if _, ok := s.byPort[pl.port]; !ok {
				s.byPort[pl.port] = build(pl.port)
			}
		}
	}
	compiled := make([]*compiledListener, len(cfg.Listeners))
	for _, pl := range all {
		compiled[pl.idx] = pl.l
	}
	s.tlsByPort = c.tlsIndexes(cfg, compiled)
	s.plans = c.l4Plans(cfg, compiled, s)
	for cl := range c.closer {
		s.closers = append(s.closers, cl)
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// sortWildcards puts the longest wildcard suffix first, keeping definition order among equals.
func sortWildcards(idx *hostIndex[*compiledListener]) {
	slices.SortStableFunc(idx.wildcard, func(a, b wildcardEntry[*compiledListener]) int {
		return cmp.Compare(len(b.suffix), len(a.suffix))
	})
}

type hostKind int

const (
	hostAny hostKind = iota
	hostExact
	hostWildcard
)

// classifyHost normalises a configured hostname: exact, a wildcard suffix (".example.com"), or any.
func classifyHost(h string) (hostKind, string, error) {
	h = strings.ToLower(h)
	switch {
	case h == "" || h == "*":
		return hostAny, "", nil
	case strings.HasPrefix(h, "*."):
		if len(h) < 3 || strings.ContainsAny(h[2:], "*/: ") {
			return 0, "", fmt.Errorf("invalid wildcard hostname %q", h)
		}
		return hostWildcard, h[1:], nil
	case strings.ContainsAny(h, "*/: "):
		return 0, "", fmt.Errorf("invalid hostname %q", h)
	default:
		return hostExact, h, nil
	}
}

// addHosts reports each hostname as exact, wildcard suffix, or "any" (also when none is given); invalid
// ones are recorded as errors at path unless quiet.
func (c *compiler) addHosts(hosts []string, path string, exact func(string), wild func(string), anyHost func()) {
	if len(hosts) == 0 {
		anyHost()
		return
	}
	for i, h := range hosts {
		kind, v, err := classifyHost(h)
		switch {
		case err != nil:
			if path != "" {
				c.errs = append(c.errs, &ConfigError{Path: fmt.Sprintf("%s[%d]", path, i), Err: err})
			}
		case kind == hostAny:
			anyHost()
		case kind == hostWildcard:
			wild(v)
		default:
			exact(v)
		}
	}
}

func (c *compiler) listener(lc *ListenerConfig, path string) *compiledListener {
	l := &compiledListener{name: lc.Name, port: lc.Port}
	// Group routes by the hostnames they name; routes without hostnames serve every host, after the
	// host-specific ones.
	type group struct {
		entries []*entry
	}
	exact := map[string]*group{}
	wild := map[string]*group{}
	general := &group{}
	routeNames := map[string]bool{}
	for i := range lc.Routes {
		rc := &lc.Routes[i]
		rpath := fmt.Sprintf("%s.routes[%d]", path, i)
		if rc.Name != "" {
			if routeNames[rc.Name] {
				c.errf(rpath+".name", "duplicate route name %q", rc.Name)
			}
			routeNames[rc.Name] = true
		}
		route := c.route(lc.Name, rc, rpath)
		entries := c.entries(route, rc, rpath)
		c.addHosts(rc.Hostnames, rpath+".hostnames", func(h string) {
			g := exact[h]
			if g == nil {
				g = &group{}
				exact[h] = g
			}
			g.entries = append(g.entries, entries...)
		}, func(suffix string) {
			g := wild[suffix]
			if g == nil {
				g = &group{}
				wild[suffix] = g
			}
			g.entries = append(g.entries, entries...)
		}, func() {
			general.entries = append(general.entries, entries...)
		})
	}
	generalTable := newRouteTable(general.entries)
	l.hosts = &hostIndex[[]*routeTable]{exact: map[string][]*routeTable{}}
	for h, g := range exact {
		// An exact host also sees the wildcard routes that cover it, after its own.
		es := slices.Clone(g.entries)
		for suffix, wg := range wild {
			if strings.HasSuffix(h, suffix) {
				es = append(es, wg.entries...)
			}
		}
		l.hosts.exact[h] = []*routeTable{newRouteTable(es), generalTable}
	}
	for suffix, g := range wild {
		es := slices.Clone(g.entries)
		for s2, wg := range wild {
			if s2 != suffix && strings.HasSuffix(suffix, s2) {
				es = append(es, wg.entries...)
			}
		}
		l.hosts.wildcard = append(l.hosts.wildcard, wildcardEntry[[]*routeTable]{suffix, []*routeTable{newRouteTable(es), generalTable}})
	}
	slices.SortFunc(l.hosts.wildcard, func(a, b wildcardEntry[[]*routeTable]) int {
		return cmp.Or(cmp.Compare(len(b.suffix), len(a.suffix)), strings.Compare(a.suffix, b.suffix))
	})
	l.hosts.any, l.hosts.hasAny = []*routeTable{generalTable}, true
	return l
}

func newRouteTable(entries []*entry) *routeTable {
	t := &routeTable{exact: map[string][]*entry{}, prefix: map[string][]*entry{}}
	for _, e := range entries {
		switch {
		case e.re != nil:
			t.regex = append(t.regex, e)
		case e.plen < 0:
			t.exact[e.prefix] = append(t.exact[e.prefix], e)
		default:
			t.prefix[e.prefix] = append(t.prefix[e.prefix], e)
		}
	}
	for _, es := range t.exact {
		slices.SortStableFunc(es, precedence)
	}
	for _, es := range t.prefix {
		slices.SortStableFunc(es, precedence)
	}
	slices.SortStableFunc(t.regex, precedence)
	return t
}

func (c *compiler) entries(route *compiledRoute, rc *RouteConfig, path string) []*entry {
	matches := rc.Matches
	if len(matches) == 0 {
		matches = []Match{{Path: PathMatch{Type: PathPrefix, Value: "/"}}}
	}
	var out []*entry
	for i, m := range matches {
		mp := fmt.Sprintf("%s.matches[%d]", path, i)
		c.order++
		e := &entry{route: route, order: c.order, method: strings.ToUpper(m.Method)}
		v := m.Path.Value
		switch m.Path.Type {
		case PathExact:
			if !strings.HasPrefix(v, "/") {
				c.errf(mp+".path", "exact path %q must start with /", v)
				continue
			}
			e.prefix, e.plen = v, -1
		case PathPrefix:
			if v == "" {
				v = "/"
			}
			if !strings.HasPrefix(v, "/") {
				c.errf(mp+".path", "path prefix %q must start with /", v)
				continue
			}
			v = strings.TrimSuffix(v, "/")
			e.prefix, e.plen = v, len(v)
		case PathRegex:
			re, err := anchored(v)
			if err != nil {
				c.errf(mp+".path", "invalid regex: %v", err)
				continue
			}
			e.re, e.plen = re, len(v)
		default:
			c.errf(mp+".path", "unknown path match type %d", m.Path.Type)
			continue
		}
		for j, h := range m.Headers {
			vm, ok := c.valueMatcher(h, fmt.Sprintf("%s.headers[%d]", mp, j))
			if ok {
				vm.name = http.CanonicalHeaderKey(vm.name)
				e.headers = append(e.headers, vm)
			}
		}
		for j, q := range m.Query {
			if vm, ok := c.valueMatcher(q, fmt.Sprintf("%s.query[%d]", mp, j)); ok {
				e.query = append(e.query, vm)
			}
		}
		out = append(out, e)
	}
	return out
}

// anchored compiles expr to match whole strings; errors quote the expression as the user wrote it.
func anchored(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile("^(?:" + expr + ")$")
}

func (c *compiler) valueMatcher(v ValueMatch, path string) (valueMatcher, bool) {
	if v.Name == "" {
		c.errf(path+".name", "name is required")
		return valueMatcher{}, false
	}
	vm := valueMatcher{name: v.Name, value: v.Value}
	if v.Regex {
		re, err := anchored(v.Value)
		if err != nil {
			c.errf(path+".value", "invalid regex: %v", err)
			return vm, false
		}
		vm.re = re
	}
	return vm, true
}

// Validator is implemented by backends and other handlers whose configuration can be wrong; Apply calls
// it so that errors surface when the configuration is built, never at request time.
type Validator interface {
	Validate() error
}

// BackendNamer is implemented by backends that name themselves for State.Backend and the access log.
type BackendNamer interface {
	BackendName() string
}

func (c *compiler) route(listener string, rc *RouteConfig, path string) *compiledRoute {
	r := &compiledRoute{name: rc.Name, listener: listener}
	var next http.Handler
	backends := make([]WeightedBackend, 0, len(rc.Backends))
	total := 0
	for i, b := range rc.Backends {
		bp := fmt.Sprintf("%s.backends[%d]", path, i)
		if b.Handler == nil {
			c.errf(bp, "backend has no handler")
			continue
		}
		if b.Weight < 0 {
			c.errf(bp+".weight", "weight %d must not be negative", b.Weight)
			continue
		}
		if v, ok := b.Handler.(Validator); ok {
			if err := v.Validate(); err != nil {
				c.errs = append(c.errs, &ConfigError{Path: bp, Err: err})
				continue
			}
		}
		if cl, ok := b.Handler.(io.Closer); ok {
			c.closer[cl] = struct{}{}
		}
		if b.Name == "" {
			if n, ok := b.Handler.(BackendNamer); ok {
				b.Name = n.BackendName()
			} else {
				b.Name = rc.Name
			}
		}
		total += b.Weight
		backends = append(backends, b)
	}
	switch {
	case len(rc.Backends) == 0:
		next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusInternalServerError, "route has no backend")
		})
	case total == 0:
		next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusInternalServerError, "no backend has weight")
		})
	case len(backends) == 1:
		b := backends[0]
		next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if st := StateFrom(r.Context()); st != nil {
				st.Backend = b.Name
			}
			b.Handler.ServeHTTP(w, r)
		})
	default:
		next = newSplit(backends, total, c.rnd)
	}
	// Policies run by phase; the sort is stable, so a phase keeps the order they were given in.
	order := make([]int, 0, len(rc.Policies))
	for i, p := range rc.Policies {
		if p == nil {
			c.errf(fmt.Sprintf("%s.policies[%d]", path, i), "nil policy")
			continue
		}
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return int(PhaseOf(rc.Policies[a])) - int(PhaseOf(rc.Policies[b]))
	})
	var inspectors []Inspector
	for _, i := range order {
		p := rc.Policies[i]
		if v, ok := unwrapPolicy(p).(Validator); ok {
			if err := v.Validate(); err != nil {
				c.errs = append(c.errs, &ConfigError{Path: fmt.Sprintf("%s.policies[%d]", path, i), Err: err})
			}
		}
		if cl, ok := unwrapPolicy(p).(io.Closer); ok {
			c.closer[cl] = struct{}{}
		}
		if in, ok := unwrapPolicy(p).(Inspector); ok {
			inspectors = append(inspectors, in)
		}
	}
	for _, b := range backends {
		if in, ok := b.Handler.(Inspector); ok {
			inspectors = append(inspectors, in)
			break // one protocol per route: the first backend that can describe the request does
		}
	}
	for j := len(order) - 1; j >= 0; j-- {
		i := order[j]
		next = rc.Policies[i].Wrap(next)
		if next == nil {
			c.errf(fmt.Sprintf("%s.policies[%d]", path, i), "policy returned a nil handler")
			next = http.NotFoundHandler()
		}
	}
	if len(inspectors) > 0 {
		next = inspect(inspectors, next)
	}
	r.handler = next
	return r
}

// unwrapPolicy sees through At, so that a re-phased policy is still closed, validated and inspected.
func unwrapPolicy(p Policy) any {
	for {
		a, ok := p.(*atPhase)
		if !ok {
			return p
		}
		p = a.Policy
	}
}

// inspect runs the route's inspectors before its policies.
func inspect(inspectors []Inspector, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, in := range inspectors {
			var ok bool
			if r, ok = in.Inspect(w, r); !ok {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

type split struct {
	backends []WeightedBackend
	cum      []int
	total    int
	rnd      func(int) int
}

func newSplit(backends []WeightedBackend, total int, rnd func(int) int) *split {
	s := &split{backends: backends, total: total, rnd: rnd}
	acc := 0
	for _, b := range backends {
		acc += b.Weight
		s.cum = append(s.cum, acc)
	}
	return s
}

func (s *split) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := StateFrom(r.Context())
	var i int
	switch {
	case st != nil && st.Affinity != 0:
		i = s.rendezvous(st.Affinity)
	case st != nil && st.Policy.Retries > 0 && st.picked > 0:
		prev := st.picked - 1
		if i = s.other(prev); !s.available(i) {
			if j := s.availablePick(prev); j >= 0 {
				i = j
			}
		}
	default:
		if i, _ = slices.BinarySearch(s.cum, s.rnd(s.total)+1); !s.available(i) {
			if j := s.availablePick(i); j >= 0 {
				i = j
			}
		}
	}
	b := &s.backends[i]
	if st != nil {
		st.Backend, st.picked = b.Name, i+1
	}
	b.Handler.ServeHTTP(w, r)
}

// availability is implemented by backends that know when none of their endpoints takes traffic
// (HTTPBackend: every endpoint ejected by passive health checking).
type availability interface{ Available() bool }

func (s *split) available(i int) bool {
	a, ok := s.backends[i].Handler.(availability)
	return !ok || a.Available()
}

// availablePick draws by weight among the backends other than skip that take traffic; -1 when there
// is none (the pick then stands: its backend answers for itself).
func (s *split) availablePick(skip int) int {
	total := 0
	for j, b := range s.backends {
		if j != skip && b.Weight > 0 && s.available(j) {
			total += b.Weight
		}
	}
	if total == 0 {
		return -1
	}
	n := s.rnd(total)
	for j, b := range s.backends {
		if j == skip || b.Weight <= 0 || !s.available(j) {
			continue
		}
		if n < b.Weight {
			return j
		}
		n -= b.Weight
	}
	return -1
}

// other picks a backend by weight among all but prev, for a retried attempt: the one that just
// failed is the likeliest to fail again (a stopped upstream, an overloaded one). With no other
// backend of weight, prev it is.
func (s *split) other(prev int) int {
	w := s.backends[prev].Weight
	if s.total-w <= 0 {
		return prev
	}
	// Draw in the total without prev's range, then step over that range.
	n := s.rnd(s.total - w)
	if n >= s.cum[prev]-w {
		n += w
	}
	i, _ := slices.BinarySearch(s.cum, n+1)
	return i
}

// rendezvous picks a backend for an affinity hash by weighted rendezvous hashing: each backend
// scores -ln(u)/weight for a uniform u drawn from the hash of (key, backend), and the lowest score
// wins. A key keeps its backend while the set stays the same, and removing one backend moves only
// the keys that were on it.
func (s *split) rendezvous(key uint64) int {
	best, bestScore := 0, math.Inf(1)
	for i := range s.backends {
		w := s.backends[i].Weight
		if w <= 0 {
			continue
		}
		id := uint64(i)
		if name := s.backends[i].Name; name != "" {
			id = proxy.HashString(name) // stable when a reload reorders the list
		}
		if score := proxy.RendezvousScore(key, id) / float64(w); score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// lockedRand makes a seeded rand.Rand safe for concurrent use; the default source needs no lock.
func lockedRand(src rand.Source) func(int) int {
	if src == nil {
		return rand.IntN
	}
	var mu sync.Mutex
	rr := rand.New(src)
	return func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		return rr.IntN(n)
	}
}
