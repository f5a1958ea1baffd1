package config

import (
	"strings"

	"github.com/agentgw/agentgateway/llm"
)

// aiRoutes builds the `ai` policy's routes (path suffix -> RouteType); the kinds without an API
// here (realtime, rerank, generateContent, geminiCountTokens) are refused at their key.
func aiRoutes(bc *BuildContext, routes map[string]string) (map[string]llm.RouteType, error) {
	if len(routes) == 0 {
		return nil, nil
	}
	out := make(map[string]llm.RouteType, len(routes))
	for suffix, t := range routes {
		switch rt := llm.RouteType(routeTypeSpelling(t)); rt {
		case llm.RouteCompletions, llm.RouteMessages, llm.RouteResponses, llm.RouteEmbeddings, llm.RouteModels,
			llm.RouteAnthropicTokenCount, llm.RoutePassthrough, llm.RouteDetect:
			out[suffix] = rt
		case "realtime", "rerank", "generateContent", "geminiCountTokens":
			return nil, bc.Errorf("routes."+suffix, "%s is not supported yet", t)
		default:
			return nil, bc.Errorf("routes."+suffix, "unknown route type %q (want completions, messages, models, passthrough, detect, responses, embeddings, anthropicTokenCount)", t)
		}
	}
	return out, nil
}

// routeTypeSpelling maps agentgateway's PascalCase route types ("Completions", "Models",
// "AnthropicTokenCount", as its published examples write them) to the schema's camelCase ones; any
// other spelling is left alone and refused by the caller.
func routeTypeSpelling(t string) string {
	switch t {
	case "Completions", "Messages", "Models", "Passthrough", "Detect", "Responses", "Embeddings",
		"AnthropicTokenCount", "Realtime", "Rerank", "GenerateContent", "GeminiCountTokens":
		return strings.ToLower(t[:1]) + t[1:]
	}
	return t
}
