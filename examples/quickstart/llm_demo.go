package main

import (
	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// addLLMDemo adds the LLM demo route and returns the curl lines that exercise it.
//
// The model "demo" is served by llm.Echo, an in-process provider that needs no key: it answers
// "echo: " and the last user message. OpenAI clients use {base}/llm/v1 as their base URL, Anthropic
// clients {base}/llm; the same call in either format reaches the same model, translated as needed.
func addLLMDemo(gw *agentgateway.Gateway) []string {
	router, err := llm.New(llm.Model("demo", llm.Echo()))
	if err != nil {
		_ = gw.Route("llm").PathPrefix("/llm").Respond(500, err.Error()).Done()
		return nil
	}
	// Errors are recorded by the gateway and reported by gw.Err().
	_ = gw.Route("llm").PathPrefix("/llm").To(router)
	return []string{
		`curl -s {base}/llm/v1/chat/completions -H 'Content-Type: application/json' -d '{"model":"demo","messages":[{"role":"user","content":"hello"}]}'`,
		`curl -sN {base}/llm/v1/messages -H 'Content-Type: application/json' -H 'anthropic-version: 2023-06-01' -d '{"model":"demo","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]}'`,
	}
}
