package llm

import (
	"encoding/json"
	"net/http"
	"sort"
)

// serveModels answers GET .../v1/models with the public models that have a fixed name (patterns
// cannot be enumerated) and the virtual models, in the client's format; keep, when not nil, says
// which the caller may see.
func (r *Router) serveModels(w http.ResponseWriter, f Format, keep func(string) bool) {
	type entry struct{ id, owner string }
	var list []entry
	for name, e := range r.exact {
		if e.visibility == Public && (keep == nil || keep(name)) {
			list = append(list, entry{name, e.upstream.name})
		}
	}
	for name := range r.virtual {
		if name == "*" || (keep != nil && !keep(name)) {
			continue
		}
		list = append(list, entry{name, "agentgateway"})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	var body []byte
	if f.Name() == "gemini" {
		ids := make([]string, 0, len(list))
		for _, e := range list {
			ids = append(ids, e.id)
		}
		body = geminiModelList(ids)
	} else if f.Name() == "anthropic" {
		data := make([]map[string]any, 0, len(list))
		for _, e := range list {
			data = append(data, map[string]any{"type": "model", "id": e.id, "display_name": e.id, "created_at": "1970-01-01T00:00:00Z"})
		}
		out := map[string]any{"data": data, "has_more": false, "first_id": nil, "last_id": nil}
		if len(list) > 0 {
			out["first_id"], out["last_id"] = list[0].id, list[len(list)-1].id
		}
		body, _ = json.Marshal(out)
	} else {
		data := make([]map[string]any, 0, len(list))
		for _, e := range list {
			data = append(data, map[string]any{"id": e.id, "object": "model", "created": 0, "owned_by": e.owner})
		}
		body, _ = json.Marshal(map[string]any{"object": "list", "data": data})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
