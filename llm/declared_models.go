package llm

import (
	"encoding/json"
	"net/http"
	"time"
)

// DeclaredModel is a model an ai policy declares (agentgateway's `ai.models`): GET /v1/models lists
// the declared models instead of the router's own.
type DeclaredModel struct {
	ID      string
	OwnedBy string
	// Created is the model's creation time in Unix seconds.
	Created int64
}

// declaredModels are the models declared by the innermost ai policy of req that declares any.
func (r *Router) declaredModels(req *http.Request) []DeclaredModel {
	layers, _ := req.Context().Value(aiPolicyKey{}).([]*compiledPolicy)
	for i := len(layers) - 1; i >= 0; i-- {
		if layers[i].Models != nil {
			return layers[i].Models
		}
	}
	if r.gov != nil {
		return r.gov.Models
	}
	return nil
}

// serveDeclared answers GET /v1/models with declared models, in the client's format, keeping those
// keep allows (an API key's allowedModels).
func serveDeclared(w http.ResponseWriter, f Format, models []DeclaredModel, keep func(string) bool) {
	var list []DeclaredModel
	for _, m := range models {
		if keep == nil || keep(m.ID) {
			list = append(list, m)
		}
	}
	var body []byte
	switch f.Name() {
	case "gemini":
		ids := make([]string, len(list))
		for i, m := range list {
			ids[i] = m.ID
		}
		body = geminiModelList(ids)
	case "anthropic":
		data := make([]map[string]any, len(list))
		for i, m := range list {
			data[i] = map[string]any{"type": "model", "id": m.ID, "display_name": m.ID,
				"created_at": time.Unix(m.Created, 0).UTC().Format(time.RFC3339)}
		}
		out := map[string]any{"data": data, "has_more": false, "first_id": nil, "last_id": nil}
		if len(list) > 0 {
			out["first_id"], out["last_id"] = list[0].ID, list[len(list)-1].ID
		}
		body, _ = json.Marshal(out)
	default:
		data := make([]map[string]any, len(list))
		for i, m := range list {
			data[i] = map[string]any{"id": m.ID, "object": "model", "created": m.Created, "owned_by": m.OwnedBy}
		}
		body, _ = json.Marshal(map[string]any{"object": "list", "data": data})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
