package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
	"github.com/agentgw/agentgateway/policy"
)

// gatewayWith serves r behind a Gateway with policies on every path.
func gatewayWith(t *testing.T, r http.Handler, policies ...agentgateway.Policy) string {
	t.Helper()
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("llm").PathPrefix("/").Use(policies...).To(r); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAllowedModels: an API key's allowedModels (wildcards included) is enforced with a 403 in the
// client's format, seen by both SDKs as their own error type; /v1/models lists only what the key
// may use; an empty list allows nothing and an absent one everything.
func TestAllowedModels(t *testing.T) {
	oa := newStub(t, "openai")
	up := llm.OpenAI(llm.BaseURL(oa.srv.URL+"/v1"), llm.APIKey("k"))
	r, err := llm.New(llm.Model("fast", up), llm.Model("claude-haiku", up), llm.Model("big", up),
		llm.Failover("smart", llm.Target{Model: "big"}))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := policy.NewAPIKey(policy.APIKeyConfig{Keys: []policy.APIKey{
		{Key: "k-limited", AllowedModels: []string{"fast", "claude-*"}},
		{Key: "k-none", AllowedModels: []string{}},
		{Key: "k-all"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	base := gatewayWith(t, r, keys)
	ctx := context.Background()
	oaCall := func(key, model string) error {
		c := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		return err
	}
	anCall := func(key, model string) error {
		c := anthropic.NewClient(anthropicoption.WithBaseURL(base+"/"), anthropicoption.WithAuthToken(key), anthropicoption.WithMaxRetries(0))
		_, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 16,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
		return err
	}
	for _, c := range []struct {
		key, model string
		ok         bool
	}{
		{"k-limited", "fast", true}, {"k-limited", "claude-haiku", true}, {"k-limited", "big", false}, {"k-limited", "smart", false},
		{"k-none", "fast", false}, {"k-all", "big", true}, {"k-all", "smart", true},
	} {
		err := oaCall(c.key, c.model)
		var oe *openai.Error
		switch {
		case c.ok && err != nil:
			t.Errorf("openai %s/%s: %v", c.key, c.model, err)
		case !c.ok && (!errors.As(err, &oe) || oe.StatusCode != 403 || oe.Type != "permission_error"):
			t.Errorf("openai %s/%s: %v, want a 403 openai.Error", c.key, c.model, err)
		}
		err = anCall(c.key, c.model)
		var ae *anthropic.Error
		switch {
		case c.ok && err != nil:
			t.Errorf("anthropic %s/%s: %v", c.key, c.model, err)
		case !c.ok && (!errors.As(err, &ae) || ae.StatusCode != 403 || !strings.Contains(ae.RawJSON(), `"permission_error"`)):
			t.Errorf("anthropic %s/%s: %v, want a 403 anthropic.Error", c.key, c.model, err)
		}
	}
	list := func(key string) []string {
		req, _ := http.NewRequest("GET", base+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out struct {
			Data []struct{ ID string } `json:"data"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("models: %d %s", resp.StatusCode, b)
		}
		var ids []string
		for _, d := range out.Data {
			ids = append(ids, d.ID)
		}
		sort.Strings(ids)
		return ids
	}
	for key, want := range map[string][]string{
		"k-limited": {"claude-haiku", "fast"},
		"k-none":    nil,
		"k-all":     {"big", "claude-haiku", "fast", "smart"},
	} {
		if got := list(key); !equalStrings(got, want) {
			t.Errorf("%s lists %v, want %v", key, got, want)
		}
	}
	if n := oa.count(); n != 4*2 {
		t.Errorf("provider saw %d calls, want 8 (refused calls must not reach it)", n)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
