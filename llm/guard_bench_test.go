package llm_test

import (
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

func piiGuard() *llm.Guard {
	return llm.Regex(llm.Mask, llm.Builtin("email"), llm.Builtin("creditCard"), llm.Builtin("ssn"), llm.Builtin("phoneNumber"))
}

func guardedRouter(b *testing.B, up *llm.Upstream, pg llm.PromptGuard) *llm.Router {
	r, err := llm.New(llm.Model("m", up), llm.Govern(llm.AIPolicy{PromptGuard: &pg}))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkGuardRequest: the cost a PII mask guard adds to a 2 KB same-wire call: on the request
// (parse, scan, re-encode the body) and on the answer (decoded and re-encoded to be scanned).
func BenchmarkGuardRequest(b *testing.B) {
	rt := cannedRT{"application/json", []byte(openaiAnswer)}
	body := request2KB(false)
	up := func() *llm.Upstream { return llm.OpenAI(llm.APIKey("k"), llm.Transport(rt)) }
	b.Run("none", func(b *testing.B) { serve(b, benchRouter(b, up()), "/v1/chat/completions", body) })
	b.Run("request", func(b *testing.B) {
		serve(b, guardedRouter(b, up(), llm.PromptGuard{Request: []*llm.Guard{piiGuard()}}), "/v1/chat/completions", body)
	})
	b.Run("response", func(b *testing.B) {
		serve(b, guardedRouter(b, up(), llm.PromptGuard{Response: []*llm.Guard{piiGuard()}}), "/v1/chat/completions", body)
	})
}

// BenchmarkGuardStreamChunk: the cost per streamed chunk of a PII mask guard on a 100-chunk
// Anthropic answer, same-wire (which the guard moves to the decode/encode path) and translated.
func BenchmarkGuardStreamChunk(b *testing.B) {
	const chunks = 100
	rt := cannedRT{"text/event-stream", anthropicStream(chunks)}
	perChunk := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/chunks, "ns/chunk")
	}
	anBody := []byte(`{"model":"m","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	plain := benchRouter(b, llm.Anthropic(llm.APIKey("k"), llm.Transport(rt)))
	guarded := guardedRouter(b, llm.Anthropic(llm.APIKey("k"), llm.Transport(rt)), llm.PromptGuard{Response: []*llm.Guard{piiGuard()}})
	b.Run("passthrough/none", func(b *testing.B) { serve(b, plain, "/v1/messages", anBody); perChunk(b) })
	b.Run("passthrough/guard", func(b *testing.B) { serve(b, guarded, "/v1/messages", anBody); perChunk(b) })
	b.Run("translated/none", func(b *testing.B) { serve(b, plain, "/v1/chat/completions", request2KB(true)); perChunk(b) })
	b.Run("translated/guard", func(b *testing.B) { serve(b, guarded, "/v1/chat/completions", request2KB(true)); perChunk(b) })
}
