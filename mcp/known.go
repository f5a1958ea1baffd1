package mcp

import (
	"context"
	"regexp"
	"strings"
)

// knownSet is what one target listed for one kind in one session: its own names of tools or prompts,
// or its resource URIs and the templates they may follow.
type knownSet struct {
	names     map[string]bool
	templates []*regexp.Regexp
}

func (k *knownSet) has(name string) bool {
	if k.names[name] {
		return true
	}
	for _, re := range k.templates {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

func knownKey(kind string, t *target) string { return kind + "\x00" + t.Name }

// knownFrom records the names of one target's complete list (before they are exposed).
func knownFrom(kind string, p *listPage) *knownSet {
	k := &knownSet{names: map[string]bool{}}
	switch kind {
	case "tool":
		for _, x := range p.Tools {
			if x != nil {
				k.names[x.Name] = true
			}
		}
	case "prompt":
		for _, x := range p.Prompts {
			if x != nil {
				k.names[x.Name] = true
			}
		}
	case "resource":
		for _, x := range p.Resources {
			if x != nil {
				k.names[x.URI] = true
			}
		}
	}
	return k
}

// addTemplates records resource templates: a URI that fits one is a resource of the target, and the
// template itself names one in completions.
func (k *knownSet) addTemplates(p *listPage) {
	for _, x := range p.ResourceTemplates {
		if x == nil {
			continue
		}
		k.names[x.URITemplate] = true
		if re := templateRegexp(x.URITemplate); re != nil {
			k.templates = append(k.templates, re)
		}
	}
}

// templateRegexp matches the URIs an RFC 6570 template can produce, loosely: every expression stands
// for any text. Enough to tell a resource of the target from a made-up one.
func templateRegexp(tmpl string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(regexp.QuoteMeta(tmpl[:i]))
		b.WriteString(".*")
		tmpl = tmpl[i+j+1:]
	}
	b.WriteString(regexp.QuoteMeta(tmpl))
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil
	}
	return re
}

// setKnown stores a target's known list in the session.
func (s *session) setKnown(kind string, t *target, k *knownSet) {
	s.mu.Lock()
	if s.known == nil {
		s.known = map[string]*knownSet{}
	}
	s.known[knownKey(kind, t)] = k
	s.mu.Unlock()
}

// forgetKnown drops a target's known list of kind (its list changed).
func (s *session) forgetKnown(kind string, t *target) {
	s.mu.Lock()
	delete(s.known, knownKey(kind, t))
	if kind == "resource" {
		delete(s.known, knownKey("template", t))
	}
	s.mu.Unlock()
}

// knows reports whether the target listed name (its own name of a tool or prompt, or a resource URI)
// in this session, listing that target once when the session has no list of it yet. A call to a name
// the target does not list is answered as a call to a denied one, so a client cannot tell which
// names exist from the answers. When the target cannot be listed the call goes on, and fails or not
// there: an unreachable target says nothing about its names.
func (f *Federation) knows(ctx context.Context, sess *session, t *target, kind, name string) bool {
	sess.mu.Lock()
	k := sess.known[knownKey(kind, t)]
	sess.mu.Unlock()
	if k == nil {
		up, err := sess.upstream(ctx, t)
		if err != nil {
			return true
		}
		var p listPage
		lk := listKindOf(kind)
		if err := f.fetchAll(ctx, t, up, lk, &p); err != nil {
			return true
		}
		k = knownFrom(kind, &p)
		if kind == "resource" {
			var tp listPage
			if err := f.fetchAll(ctx, t, up, &templatesKind, &tp); err != nil {
				return true
			}
			k.addTemplates(&tp)
		}
		sess.setKnown(kind, t, k)
	}
	return k.has(name)
}

// listChangedKind maps a target's list_changed notification to the kind whose list it invalidates.
func listChangedKind(method string) string {
	switch method {
	case "notifications/tools/list_changed":
		return "tool"
	case "notifications/prompts/list_changed":
		return "prompt"
	case "notifications/resources/list_changed":
		return "resource"
	}
	return ""
}
