package llm_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// Embedding an LLM router in a gateway: clients of either API reach the configured models. Here
// the model "demo" is the in-process Echo provider; in production it would be
// llm.OpenAI(llm.APIKeyEnv("OPENAI_API_KEY")) or llm.Anthropic(...).
func Example() {
	router, err := llm.New(
		llm.Model("demo", llm.Echo()),
		llm.Model("gpt-*", llm.OpenAI()), // every gpt-... model to OpenAI, key from OPENAI_API_KEY
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("llm").PathPrefix("/").To(router); err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	// An OpenAI-format call.
	body := post(srv.URL+"/v1/chat/completions", `{"model":"demo","messages":[{"role":"user","content":"hello"}]}`)
	var oa struct {
		Choices []struct{ Message struct{ Content string } }
	}
	_ = json.Unmarshal(body, &oa)
	fmt.Println(oa.Choices[0].Message.Content)

	// An Anthropic-format call to the same model: translated both ways.
	body = post(srv.URL+"/v1/messages", `{"model":"demo","max_tokens":64,"messages":[{"role":"user","content":"bonjour"}]}`)
	var an struct {
		Content    []struct{ Text string }
		StopReason string `json:"stop_reason"`
	}
	_ = json.Unmarshal(body, &an)
	fmt.Println(an.Content[0].Text, an.StopReason)
	// Output:
	// echo: hello
	// echo: bonjour end_turn
}

// Failover: the virtual model "smart" tries the primary provider first; a 429 (or 5xx, timeout,
// connection error) moves the call to the next priority group, and the primary is evicted for a
// back-off so that the next calls go straight to the backup.
func ExampleFailover() {
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`)
	}))
	defer busy.Close()
	router, err := llm.New(
		llm.Model("primary", llm.OpenAICompatible("busy", busy.URL+"/v1"), llm.Visible(llm.Internal)),
		llm.Model("backup", llm.Echo(), llm.Visible(llm.Internal)),
		llm.Failover("smart", llm.Target{Model: "primary", Priority: 0}, llm.Target{Model: "backup", Priority: 1}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(router)
	defer srv.Close()
	body := post(srv.URL+"/v1/messages", `{"model":"smart","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`)
	var an struct{ Content []struct{ Text string } }
	_ = json.Unmarshal(body, &an)
	fmt.Println(an.Content[0].Text)
	// Output:
	// echo: hi
}

func post(url, body string) []byte {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
