package mcp

import (
	"bytes"
	"encoding/json"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// MCP Apps (the io.modelcontextprotocol/ui extension) through the federation.
//
// An app is a ui:// resource (HTML) that a tool names in _meta.ui.resourceUri (older servers:
// _meta["ui/resourceUri"]). When the federation prefixes, a ui:// URI keeps its scheme, which hosts
// require, and gets the target as its first path segment: ui://weather/view.html of target "apps"
// is ui://apps/weather/view.html. Tools' _meta links are rewritten the same way, so a host reads the
// federated resource, and resources/read of it reaches the owning target. A link to an app the client
// may not read (mcpAuthorization on the resource) is removed from the tool: the tool stays callable,
// without its UI, and the resource stays out of lists and unreadable.

const uiScheme = "ui://"

// legacyUIKeys are flat _meta keys that link a tool to its UI resource: the MCP Apps drafts' key,
// still sent by servers for older hosts, and the OpenAI Apps SDK's.
var legacyUIKeys = []string{"ui/resourceUri", "openai/outputTemplate"}

// exposedURI returns the client-facing URI of a target's resource when names are prefixed.
func exposedURI(t *target, uri string) string {
	if rest, ok := strings.CutPrefix(uri, uiScheme); ok {
		return uiScheme + t.Name + "/" + rest
	}
	return t.Name + "+" + uri
}

// splitExposedURI returns the target name and the target's URI of a prefixed client-facing URI.
func splitExposedURI(uri string) (name, upURI string, ok bool) {
	if rest, isUI := strings.CutPrefix(uri, uiScheme); isUI {
		if name, rest, ok = strings.Cut(rest, "/"); ok {
			return name, uiScheme + rest, true
		}
	}
	return strings.Cut(uri, "+")
}

// exposeToolUI rewrites a tool's app links for the client: prefixed like the resource, or removed when
// the client may not read the resource.
func (f *Federation) exposeToolUI(t *target, tool *sdk.Tool, az *authorizer) {
	if tool.Meta == nil {
		return
	}
	expose := func(uri string) (string, bool) {
		if !az.allows("resource", t.Name, uri) {
			return "", false
		}
		return f.exposeURI(t, uri), true
	}
	var meta sdk.Meta
	cloned := func() sdk.Meta {
		if meta == nil {
			meta = make(sdk.Meta, len(tool.Meta))
			for k, v := range tool.Meta {
				meta[k] = v
			}
		}
		return meta
	}
	if ui, ok := tool.Meta["ui"].(map[string]any); ok {
		if uri, ok := ui["resourceUri"].(string); ok {
			nu := make(map[string]any, len(ui))
			for k, v := range ui {
				nu[k] = v
			}
			if exposed, ok := expose(uri); ok {
				nu["resourceUri"] = exposed
			} else {
				delete(nu, "resourceUri")
			}
			cloned()["ui"] = nu
		}
	}
	for _, key := range legacyUIKeys {
		if uri, ok := tool.Meta[key].(string); ok {
			if exposed, ok := expose(uri); ok {
				cloned()[key] = exposed
			} else {
				delete(cloned(), key)
			}
		}
	}
	if meta != nil {
		tool.Meta = meta
	}
}

// toolExtras keeps the fields of tools that the go-sdk's Tool does not model (execution, which says
// whether a tool runs as a task), so lists pass them on.
type toolExtras map[*sdk.Tool]json.RawMessage

// keepToolExtras records the execution field of each tool of a decoded page; result is the page's
// raw result.
func (p *listPage) keepToolExtras(result []byte) {
	if len(p.Tools) == 0 || !bytes.Contains(result, []byte(`"execution"`)) {
		return
	}
	var raw struct {
		Tools []struct {
			Execution json.RawMessage `json:"execution"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &raw) != nil || len(raw.Tools) != len(p.Tools) {
		return
	}
	for i, x := range raw.Tools {
		if len(x.Execution) > 0 && p.Tools[i] != nil {
			if p.extras == nil {
				p.extras = toolExtras{}
			}
			p.extras[p.Tools[i]] = x.Execution
		}
	}
}

// takeToolExtras adds another page's extras to p's.
func (p *listPage) takeToolExtras(from *listPage) {
	for k, v := range from.extras {
		if p.extras == nil {
			p.extras = toolExtras{}
		}
		p.extras[k] = v
	}
}

// withToolExtras puts the extras back into a marshalled tools/list result.
func (p *listPage) withToolExtras(res []byte, tools []*sdk.Tool) ([]byte, error) {
	if len(p.extras) == 0 {
		return res, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(res, &m); err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, len(tools))
	for i, tool := range tools {
		b, err := json.Marshal(tool)
		if err != nil {
			return nil, err
		}
		if ex, ok := p.extras[tool]; ok && len(b) > 2 {
			b = append(append(append(b[:len(b)-1:len(b)-1], `,"execution":`...), ex...), '}')
		}
		out[i] = b
	}
	tb, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	m["tools"] = tb
	return json.Marshal(m)
}

// readReply gives the contents of a resources/read answer the client-facing URI, so a host matches
// what it read with what it asked for (an app's HTML under its federated ui:// URI).
type readReply struct {
	reply
	t *target
}

func (r *readReply) final(msg []byte) {
	env, err := parseEnvelope(msg)
	if err != nil || !env.result.ok() {
		r.reply.final(msg)
		return
	}
	var res map[string]json.RawMessage
	if json.Unmarshal(env.result.of(msg), &res) != nil {
		r.reply.final(msg)
		return
	}
	var contents []map[string]json.RawMessage
	if json.Unmarshal(res["contents"], &contents) != nil {
		r.reply.final(msg)
		return
	}
	for _, c := range contents {
		var uri string
		if json.Unmarshal(c["uri"], &uri) == nil && uri != "" {
			c["uri"] = quoted(exposedURI(r.t, uri))
		}
	}
	b, err1 := json.Marshal(contents)
	res["contents"] = b
	out, err2 := json.Marshal(res)
	if err1 != nil || err2 != nil {
		r.reply.final(msg)
		return
	}
	r.reply.final(splice(msg, env.result, out))
}
