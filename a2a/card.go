package a2a

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

// Well-known paths of the agent card: the current one and the one of A2A before v0.3.
const (
	CardPath       = "/.well-known/agent-card.json"
	LegacyCardPath = "/.well-known/agent.json"
)

// maxCardBytes bounds an agent card read from an upstream.
const maxCardBytes = 1 << 20

func isCardPath(p string) bool {
	return strings.HasSuffix(p, CardPath) || strings.HasSuffix(p, LegacyCardPath)
}

// cardOptions says how a card is transformed on its way to a client.
type cardOptions struct {
	// base is the public URL of the agent: scheme://host plus the path prefix the client used.
	base string
	// prefix is the path part of base; upstream paths already carrying it are not prefixed twice.
	prefix string
	// stripSignatures drops JWS signatures so that a signed card can be rewritten.
	stripSignatures bool
	// rewrite switches URL rewriting.
	rewrite bool
	// bridge is the upstream's wire version when the route bridges versions ("" when not); client is
	// the version the client asked for (A2A-Version header of the card request).
	bridge, client string
}

// transformCard rewrites the interface URLs of an agent card (both wire versions) and, on a bridged
// route, adds the other version's fields. A signed card is returned unchanged with ErrSignedCard
// unless signatures are stripped.
func transformCard(body []byte, o cardOptions) ([]byte, error) {
	var card map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&card); err != nil {
		return nil, fmt.Errorf("a2a: agent card: %w", err)
	}
	if card == nil {
		return nil, fmt.Errorf("a2a: agent card is null")
	}
	if sigs, ok := card["signatures"]; ok && !isEmptyJSON(sigs) {
		if !o.stripSignatures {
			return body, ErrSignedCard
		}
		delete(card, "signatures")
	}
	if o.bridge != "" && o.client != o.bridge {
		var err error
		if card, err = bridgeCard(card, o.client); err != nil {
			return nil, err
		}
	}
	if o.rewrite {
		if err := rewriteCardURLs(card, o.base, o.prefix); err != nil {
			return nil, err
		}
	}
	return json.Marshal(card)
}

func isEmptyJSON(raw json.RawMessage) bool {
	s := string(bytes.TrimSpace(raw))
	return s == "null" || s == "[]" || s == "{}" || s == ""
}

func rewriteCardURLs(card map[string]json.RawMessage, base, prefix string) error {
	if raw, ok := card["url"]; ok {
		var u string
		if err := json.Unmarshal(raw, &u); err != nil {
			return fmt.Errorf("a2a: agent card url: %w", err)
		}
		card["url"] = mustJSON(publicURL(u, base, prefix))
	}
	for _, key := range []string{"additionalInterfaces", "supportedInterfaces"} {
		raw, ok := card[key]
		if !ok || isEmptyJSON(raw) {
			continue
		}
		var ifaces []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ifaces); err != nil {
			return fmt.Errorf("a2a: agent card %s: %w", key, err)
		}
		out := ifaces[:0]
		for _, iface := range ifaces {
			if iface == nil {
				continue
			}
			// Only HTTP bindings can be reached through the gateway; a gRPC address would let clients
			// bypass it, so such interfaces are dropped.
			binding := jsonString(iface["transport"]) + jsonString(iface["protocolBinding"])
			if b := strings.ToUpper(binding); b != "" && b != "JSONRPC" && b != "HTTP+JSON" {
				continue
			}
			if u, ok := iface["url"]; ok {
				iface["url"] = mustJSON(publicURL(jsonString(u), base, prefix))
			}
			out = append(out, iface)
		}
		card[key] = mustJSON(out)
	}
	return nil
}

func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with strings, maps and slices of JSON values
	}
	return b
}

// publicURL maps an agent's own URL to the gateway: the path (and query) of orig under base. A path
// that already starts with the route prefix (a route that does not strip it) is kept as it is.
func publicURL(orig, base, prefix string) string {
	p, q := "", ""
	if u, err := url.Parse(orig); err == nil {
		p, q = u.EscapedPath(), u.RawQuery
	}
	if prefix != "" && prefix != "/" && (p == prefix || strings.HasPrefix(p, prefix+"/")) {
		p = p[len(prefix):]
	}
	if p == "/" && strings.HasSuffix(base, "/") {
		p = ""
	}
	out := base + p
	if q != "" {
		out += "?" + q
	}
	return out
}

// publicBase is the URL the client reached the agent at: the configured public URL, or scheme and
// host of the request (X-Forwarded-Proto/-Host/-Prefix only from a trusted peer) plus the route's
// matched prefix.
func (p *proxy) publicBase(r *http.Request, st *agentgateway.State, prefix string) (base, pathPrefix string) {
	if p.o.publicURL != nil {
		return strings.TrimSuffix(p.o.publicURL.String(), "/"), strings.TrimSuffix(p.o.publicURL.EscapedPath(), "/")
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if p.trustedPeer(r, st) {
		if v := firstValue(r.Header.Get("X-Forwarded-Proto")); v == "http" || v == "https" {
			scheme = v
		}
		if v := firstValue(r.Header.Get("X-Forwarded-Host")); v != "" && validHost(v) {
			host = v
		}
		if v := firstValue(r.Header.Get("X-Forwarded-Prefix")); strings.HasPrefix(v, "/") && !strings.ContainsAny(v, "?#\\") {
			prefix = strings.TrimSuffix(v, "/") + prefix
		}
	}
	prefix = strings.TrimSuffix(prefix, "/")
	return scheme + "://" + host + prefix, prefix
}

// trustedPeer: the TrustedProxies option decides; without it, the gateway's own trusted proxies
// (State.TrustedProxy) are trusted.
func (p *proxy) trustedPeer(r *http.Request, st *agentgateway.State) bool {
	if p.o.trusted == nil {
		return st != nil && st.TrustedProxy
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	return p.o.trusted(ap.Addr().Unmap())
}

func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// validHost accepts host[:port] without anything that could change the meaning of a URL.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("/?#@\\\"'<>", c) >= 0 {
			return false
		}
	}
	return true
}

// routePrefix is the path prefix of the route that matched: State.MatchedPrefix, or the part of the
// path before the well-known suffix for routes matched otherwise.
func routePrefix(r *http.Request, st *agentgateway.State) string {
	if st != nil && st.MatchedPrefix != "" {
		return st.MatchedPrefix
	}
	p := r.URL.Path
	for _, suffix := range []string{CardPath, LegacyCardPath} {
		if strings.HasSuffix(p, suffix) {
			return p[:len(p)-len(suffix)]
		}
	}
	return ""
}

// serveCard fetches the agent card from the upstream and answers with the transformed card.
func (p *proxy) serveCard(w http.ResponseWriter, r *http.Request, st *agentgateway.State) {
	up := r.Clone(r.Context())
	up.Header.Del("Accept-Encoding") // the card is read, so ask for it plain
	up.Header.Del("If-None-Match")   // a 304 would carry no card to rewrite
	up.Header.Del("If-Modified-Since")
	if p.o.bridge == V10 {
		up.Header.Set(VersionHeader, V10)
	}
	rec := newBuffered(maxCardBytes)
	p.next.ServeHTTP(rec, up)
	if rec.status != http.StatusOK || rec.overflow || (!p.o.rewriteCard && p.o.bridge == "") {
		if rec.overflow {
			agentgateway.WriteError(w, http.StatusBadGateway, "agent card too large")
			return
		}
		rec.replay(w)
		return
	}
	base, prefix := p.publicBase(r, st, routePrefix(r, st))
	out, err := transformCard(rec.buf.Bytes(), cardOptions{
		base: base, prefix: prefix, rewrite: p.o.rewriteCard,
		stripSignatures: p.o.stripSignatures, bridge: p.o.bridge, client: cardClientVersion(r),
	})
	switch {
	case err == ErrSignedCard:
		p.logger().Warn("a2a: agent card is signed; serving it unchanged (rewriting would break the signature)",
			"route", routeName(st), "path", r.URL.Path)
		rec.replay(w)
		return
	case err != nil:
		if st != nil {
			st.Err = err
		}
		agentgateway.WriteError(w, http.StatusBadGateway, "invalid agent card from upstream")
		return
	}
	h := w.Header()
	for k, v := range rec.header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Etag", "Content-Encoding", "Last-Modified":
			continue
		}
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	h.Add("Vary", "Host")
	if p.o.bridge != "" {
		h.Add("Vary", VersionHeader)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func routeName(st *agentgateway.State) string {
	if st == nil {
		return ""
	}
	return st.Route
}

// buffered is a ResponseWriter that keeps a bounded response in memory.
type buffered struct {
	header   http.Header
	status   int
	buf      bytes.Buffer
	limit    int
	overflow bool
}

func newBuffered(limit int) *buffered { return &buffered{header: http.Header{}, limit: limit} }

func (b *buffered) Header() http.Header { return b.header }

func (b *buffered) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *buffered) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.buf.Len()+len(p) > b.limit {
		b.overflow = true
		return 0, ErrTooLarge
	}
	return b.buf.Write(p)
}

func (b *buffered) replay(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	h.Del("Content-Length")
	w.WriteHeader(b.status)
	_, _ = w.Write(b.buf.Bytes())
}

// cardClientVersion is the wire version a card request asks for: v1.0 clients send A2A-Version.
func cardClientVersion(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get(VersionHeader))
	if v == "" || strings.HasPrefix(v, "0.") {
		return V03
	}
	return V10
}

// bridgeCard converts a card to the shape of the client's wire version.
func bridgeCard(card map[string]json.RawMessage, client string) (map[string]json.RawMessage, error) {
	raw, _ := json.Marshal(card)
	v, err := decodeAny(raw)
	if err != nil {
		return nil, err
	}
	in := asObj(v)
	var out obj
	if client == V10 {
		out = cardTo10(in)
	} else {
		out = cardTo03(in)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	var res map[string]json.RawMessage
	return res, json.Unmarshal(b, &res)
}

// cardTo10 turns a v0.3 card into a v1.0 card; the agent's interfaces become v1.0 JSON-RPC
// interfaces, since the gateway translates that binding.
func cardTo10(in obj) obj {
	out := obj{}
	for k, x := range in {
		switch k {
		case "url", "preferredTransport", "additionalInterfaces", "protocolVersion", "supportsAuthenticatedExtendedCard", "security", "securitySchemes", "signatures", "supportedInterfaces":
		case "capabilities":
			c := obj{}
			for ck, cx := range asObj(x) {
				c[ck] = cx
			}
			if b, ok := in["supportsAuthenticatedExtendedCard"].(bool); ok {
				c["extendedAgentCard"] = b
			}
			out[k] = c
		case "skills":
			out[k] = each(x, func(s any) any { return renamed(asObj(s), "security", "securityRequirements", securityTo10) })
		default:
			out[k] = x
		}
	}
	var ifaces []any
	if u, ok := in["url"].(string); ok && isHTTPBinding(in["preferredTransport"]) {
		ifaces = append(ifaces, obj{"url": u, "protocolBinding": "JSONRPC", "protocolVersion": V10})
	}
	for _, a := range asList(in["additionalInterfaces"]) {
		ai := asObj(a)
		if u, ok := ai["url"].(string); ok && strings.EqualFold(fmt.Sprint(ai["transport"]), "JSONRPC") && (len(ifaces) == 0 || ifaces[0].(obj)["url"] != u) {
			ifaces = append(ifaces, obj{"url": u, "protocolBinding": "JSONRPC", "protocolVersion": V10})
		}
	}
	out["supportedInterfaces"] = ifaces
	if s, ok := in["security"]; ok {
		out["securityRequirements"] = securityTo10(s)
	}
	if ss := asObj(in["securitySchemes"]); ss != nil {
		m := obj{}
		for name, sc := range ss {
			m[name] = schemeTo10(asObj(sc))
		}
		out["securitySchemes"] = m
	}
	return out
}

// renamed copies m with its member from renamed to and converted by conv.
func renamed(m obj, from, to string, conv func(any) any) obj {
	out := make(obj, len(m))
	for k, x := range m {
		if k == from {
			out[to] = conv(x)
		} else {
			out[k] = x
		}
	}
	return out
}

func isHTTPBinding(v any) bool {
	s, _ := v.(string)
	return s == "" || strings.EqualFold(s, "JSONRPC")
}

// cardTo03 turns a v1.0 card into a v0.3 card whose url is the agent's JSON-RPC interface.
func cardTo03(in obj) obj {
	out := obj{}
	for k, x := range in {
		switch k {
		case "supportedInterfaces", "securityRequirements", "securitySchemes", "signatures":
		case "capabilities":
			c := obj{}
			for ck, cx := range asObj(x) {
				if ck == "extendedAgentCard" {
					out["supportsAuthenticatedExtendedCard"] = cx
					continue
				}
				c[ck] = cx
			}
			out[k] = c
		case "skills":
			out[k] = each(x, func(s any) any { return renamed(asObj(s), "securityRequirements", "security", securityTo03) })
		default:
			out[k] = x
		}
	}
	var primary string
	var extra []any
	for _, a := range asList(in["supportedInterfaces"]) {
		ai := asObj(a)
		u, _ := ai["url"].(string)
		if u == "" || !strings.EqualFold(fmt.Sprint(ai["protocolBinding"]), "JSONRPC") {
			continue
		}
		if primary == "" || ai["protocolVersion"] == V10 && primary != u {
			if primary != "" {
				extra = append(extra, obj{"url": primary, "transport": "JSONRPC"})
			}
			primary = u
		} else if u != primary {
			extra = append(extra, obj{"url": u, "transport": "JSONRPC"})
		}
	}
	out["url"] = primary
	out["preferredTransport"] = "JSONRPC"
	out["protocolVersion"] = "0.3.0"
	if len(extra) > 0 {
		out["additionalInterfaces"] = extra
	}
	if s, ok := in["securityRequirements"]; ok {
		out["security"] = securityTo03(s)
	}
	if ss := asObj(in["securitySchemes"]); ss != nil {
		m := obj{}
		for name, sc := range ss {
			if x := schemeTo03(asObj(sc)); x != nil {
				m[name] = x
			}
		}
		out["securitySchemes"] = m
	}
	for _, k := range []string{"defaultInputModes", "defaultOutputModes", "skills"} {
		if out[k] == nil {
			out[k] = []any{}
		}
	}
	if out["capabilities"] == nil {
		out["capabilities"] = obj{}
	}
	return out
}

// securityTo10: v0.3 [{scheme: [scopes]}] → v1.0 [{schemes: {scheme: {list: [scopes]}}}].
func securityTo10(v any) any {
	var out []any
	for _, req := range asList(v) {
		schemes := obj{}
		for name, scopes := range asObj(req) {
			l := asList(scopes)
			if l == nil {
				l = []any{}
			}
			schemes[name] = obj{"list": l}
		}
		out = append(out, obj{"schemes": schemes})
	}
	return out
}

func securityTo03(v any) any {
	var out []any
	for _, req := range asList(v) {
		m := obj{}
		for name, scopes := range asObj(asObj(req)["schemes"]) {
			l := asList(asObj(scopes)["list"])
			if l == nil {
				l = []any{}
			}
			m[name] = l
		}
		out = append(out, m)
	}
	return out
}

var schemeKinds = [][2]string{
	{"apiKey", "apiKeySecurityScheme"},
	{"http", "httpAuthSecurityScheme"},
	{"oauth2", "oauth2SecurityScheme"},
	{"openIdConnect", "openIdConnectSecurityScheme"},
	{"mutualTLS", "mtlsSecurityScheme"},
}

// schemeTo10: v0.3 {"type":"http", ...} → v1.0 {"httpAuthSecurityScheme": {...}}; apiKey's "in"
// becomes "location".
func schemeTo10(s obj) any {
	typ, _ := s["type"].(string)
	for _, k := range schemeKinds {
		if k[0] == typ {
			body := obj{}
			for f, x := range s {
				switch {
				case f == "type":
				case f == "in" && typ == "apiKey":
					body["location"] = x
				default:
					body[f] = x
				}
			}
			return obj{k[1]: body}
		}
	}
	return s
}

func schemeTo03(s obj) any {
	for _, k := range schemeKinds {
		body := asObj(s[k[1]])
		if body == nil {
			continue
		}
		out := obj{"type": k[0]}
		for f, x := range body {
			if f == "location" && k[0] == "apiKey" {
				out["in"] = x
			} else {
				out[f] = x
			}
		}
		return out
	}
	return nil
}
