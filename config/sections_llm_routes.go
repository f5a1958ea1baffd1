package config

import (
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
		switch rt := llm.RouteType(t); rt {
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
