package llm_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// A guardrail: the router masks emails and card numbers (Luhn-checked) in every prompt before a
// provider sees it, and rejects prompts carrying a U.S. Social Security number with a 400 in the
// client's own error format. The Echo provider shows what reached it.
func ExampleRegex() {
	router, err := llm.New(
		llm.Model("demo", llm.Echo()),
		llm.Govern(llm.AIPolicy{PromptGuard: &llm.PromptGuard{Request: []*llm.Guard{
			llm.Regex(llm.Mask, llm.Builtin("email"), llm.Builtin("creditCard")),
			llm.Regex(llm.Reject, llm.Builtin("ssn")).Rejecting(llm.Rejection{Status: 400, Body: "no SSNs, please"}),
		}}}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(router)
	defer srv.Close()

	var ok struct {
		Choices []struct{ Message struct{ Content string } }
	}
	_ = json.Unmarshal(post(srv.URL+"/v1/chat/completions", `{"model":"demo","messages":[{"role":"user","content":"bill 4111 1111 1111 1111, mail ann@example.com"}]}`), &ok)
	fmt.Println(ok.Choices[0].Message.Content)

	var rejected struct {
		Error struct{ Type, Message string }
	}
	_ = json.Unmarshal(post(srv.URL+"/v1/messages", `{"model":"demo","max_tokens":9,"messages":[{"role":"user","content":"my SSN is 123-45-6789"}]}`), &rejected)
	fmt.Println(rejected.Error.Type, rejected.Error.Message)
	// Output:
	// echo: bill <CREDIT_CARD>, mail <EMAIL_ADDRESS>
	// invalid_request_error no SSNs, please
}

// The ai route policy in front of an LLM router: a model alias, a system prompt added to every
// call, a forced max_tokens, and a guard masking card numbers in answers (streamed ones included).
func ExampleNewAIPolicy() {
	router, err := llm.New(llm.Model("demo", llm.Echo()))
	if err != nil {
		fmt.Println(err)
		return
	}
	policy, err := llm.NewAIPolicy(llm.AIPolicy{
		ModelAliases: map[string]string{"fast": "demo"},
		Prompts:      &llm.Prompts{Prepend: []llm.PromptMessage{{Role: "system", Content: "Answer briefly."}}},
		Overrides:    map[string]any{"max_tokens": 256},
		PromptGuard: &llm.PromptGuard{Response: []*llm.Guard{
			llm.Regex(llm.Mask, llm.Builtin("creditCard")),
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("llm").PathPrefix("/").Use(policy).To(router); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	var an struct {
		Model   string
		Content []struct{ Text string }
	}
	_ = json.Unmarshal(post(srv.URL+"/v1/messages", `{"model":"fast","max_tokens":9,"messages":[{"role":"user","content":"repeat 5500 0000 0000 0004"}]}`), &an)
	fmt.Println(an.Content[0].Text)
	// Output:
	// echo: repeat <CREDIT_CARD>
}
