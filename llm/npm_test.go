package llm_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentgw/agentgateway/llm"
)

// TestNodeOpenAIClientToAnthropic: the official OpenAI Node SDK (openai 6.30.1, pinned in
// testdata/node) reaches an Anthropic provider through the gateway: a plain and a streamed chat
// completion (text, finish reason, usage asked with stream_options) and an unknown model as the
// SDK's 404 NotFoundError. Skipped without `npm ci`; under AGW_INTEROP=1 (make test) it must run.
func TestNodeOpenAIClientToAnthropic(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	_, statErr := os.Stat(filepath.Join(dir, "node_modules", "openai"))
	_, nodeErr := exec.LookPath("node")
	if statErr != nil || nodeErr != nil {
		if os.Getenv("AGW_INTEROP") == "1" {
			t.Fatalf("npm peers missing (npm ci --prefix %s) or node not found: %v %v", dir, statErr, nodeErr)
		}
		t.Skip("npm peers not installed; skipping")
	}
	s := newStub(t, "anthropic")
	r, err := llm.New(llm.Model("claude-sonnet", llm.Anthropic(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := gateway(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "openai_client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AGW_BASE_URL="+url+"/v1", "AGW_MODEL=claude-sonnet")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node: %v\n%s\n%s", err, out, stderr)
	}
	var got struct {
		Plain struct {
			Text, Finish, Model string
			Usage               struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		Stream struct {
			Text, Finish string
			Chunks       int
			Usage        *struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		Error *struct {
			Status  int
			Message string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Plain.Text != "Hello from anthropic" || got.Plain.Finish != "stop" || got.Plain.Usage.PromptTokens != 12 || got.Plain.Usage.CompletionTokens != 5 {
		t.Errorf("plain: %+v", got.Plain)
	}
	if got.Stream.Text != "Hello from anthropic" || got.Stream.Finish != "stop" || got.Stream.Chunks < 3 || got.Stream.Usage == nil || got.Stream.Usage.CompletionTokens != 5 {
		t.Errorf("stream: %+v", got.Stream)
	}
	if got.Error == nil || got.Error.Status != 404 {
		t.Errorf("unknown model: %+v", got.Error)
	}
	if sys, _ := s.last()["system"].(string); sys == "" {
		if _, ok := s.last()["system"].([]any); !ok {
			t.Errorf("system prompt not translated: %v", s.last())
		}
	}
}
