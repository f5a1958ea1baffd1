package config

import "encoding/json"

// aiPinnedModel is the model every provider of an `ai` backend pins (provider.<kind>.model), or ""
// when one of them pins none. agentgateway sends a pinned model whatever the client names, so a
// client may leave the model out; the router then routes the request as this model.
func aiPinnedModel(s aiBackendSpec) string {
	providers := []aiProviderSpec{s.aiProviderSpec}
	if len(s.Groups) > 0 {
		providers = nil
		for _, g := range s.Groups {
			providers = append(providers, g.Providers...)
		}
	}
	first := ""
	for _, p := range providers {
		var kinds map[string]struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(p.Provider, &kinds) != nil || len(kinds) != 1 {
			return ""
		}
		for _, k := range kinds {
			if k.Model == "" {
				return ""
			}
			if first == "" {
				first = k.Model
			}
		}
	}
	return first
}
