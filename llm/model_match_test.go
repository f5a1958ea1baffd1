package llm_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

func askModel(t *testing.T, base, model string, hdr map[string]string) {
	t.Helper()
	c := oaClient(base)
	params := openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	var reqOpts []option.RequestOption
	for k, v := range hdr {
		reqOpts = append(reqOpts, optionHeader(k, v))
	}
	if _, err := c.Chat.Completions.New(context.Background(), params, reqOpts...); err != nil {
		t.Fatalf("%s %v: %v", model, hdr, err)
	}
}

// TestModelMatchesPickEntry: entries sharing a model name are chosen by their header matches (any
// alternative, all headers of one, exact or whole-value regex), in order, and the entry without
// matches serves the rest; the matched entry's params.model is what the provider gets.
func TestModelMatchesPickEntry(t *testing.T) {
	a, b, c := newTextStub(t, "openai", "a"), newTextStub(t, "openai", "b"), newTextStub(t, "openai", "c")
	r, err := llm.New(
		llm.Model("m", a.upstream(), llm.As("m-premium"), llm.MatchHeaders(agentgateway.ValueMatch{Name: "x-tier", Value: "premium"}),
			llm.MatchHeaders(agentgateway.ValueMatch{Name: "x-team", Value: "ml-.*", Regex: true}, agentgateway.ValueMatch{Name: "x-env", Value: "prod"})),
		llm.Model("m", c.upstream(), llm.MatchHeaders(agentgateway.ValueMatch{Name: "x-tier", Value: "p.*", Regex: true})),
		llm.Model("m", b.upstream()),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	for _, tc := range []struct {
		hdr  map[string]string
		want *textStub
	}{
		{map[string]string{"x-tier": "premium"}, a},
		{map[string]string{"x-team": "ml-search", "x-env": "prod"}, a},
		{map[string]string{"x-team": "ml-search"}, b},                   // one header of the alternative only
		{map[string]string{"x-team": "xml-search", "x-env": "prod"}, b}, // the regex must match the whole value
		{map[string]string{"x-tier": "pro"}, c},
		{nil, b},
	} {
		na, nb, nc := a.n.Load(), b.n.Load(), c.n.Load()
		askModel(t, base, "m", tc.hdr)
		got := map[*textStub]int32{a: a.n.Load() - na, b: b.n.Load() - nb, c: c.n.Load() - nc}
		if got[tc.want] != 1 || got[a]+got[b]+got[c] != 1 {
			t.Fatalf("%v: a=%d b=%d c=%d", tc.hdr, got[a], got[b], got[c])
		}
	}
	if m := a.request()["model"]; m != "m-premium" {
		t.Fatalf("matched entry sent model %v", m)
	}
	if _, err := llm.New(llm.Model("m", b.upstream(), llm.MatchHeaders(agentgateway.ValueMatch{Name: "x", Value: "(", Regex: true}))); err == nil ||
		!strings.Contains(err.Error(), `model "m": matches: header x`) {
		t.Fatalf("bad regex: %v", err)
	}
}

// TestModelTransformation: a model's CEL transformations set (and, with null, remove) fields of the
// request the provider gets, over the model's defaults, from the client's request.
func TestModelTransformation(t *testing.T) {
	s := newTextStub(t, "openai", "ok")
	r, err := llm.New(llm.Model("m", s.upstream(), llm.Defaults(map[string]any{"temperature": 0.5, "top_p": 0.9}),
		llm.Transform(map[string]string{"user": `request.headers["x-user"]`, "max_tokens": "8 * 4", "top_p": "null"})))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	askModel(t, base, "m", map[string]string{"x-user": "alice"})
	got := s.request()
	if got["user"] != "alice" || got["max_tokens"] != float64(32) || got["temperature"] != 0.5 {
		t.Fatalf("provider got %v", got)
	}
	if _, ok := got["top_p"]; ok {
		t.Fatalf("top_p not removed: %v", got)
	}
	if _, err := llm.New(llm.Model("m", s.upstream(), llm.Transform(map[string]string{"x": "1 +"}))); err == nil ||
		!strings.Contains(err.Error(), "transformation.x") {
		t.Fatalf("bad expression: %v", err)
	}
}

// TestModelHealthEvicts: a health policy's Unhealthy judges even a 200 answer bad; the entry is
// evicted only after ConsecutiveFailures such answers, and the failover model then tries the other
// entry first.
func TestModelHealthEvicts(t *testing.T) {
	p, s := newTextStub(t, "openai", "primary"), newTextStub(t, "openai", "secondary")
	degraded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Degraded", "1")
		p.serve(w, r)
	}))
	t.Cleanup(degraded.Close)
	up := llm.OpenAI(llm.BaseURL(degraded.URL+"/v1"), llm.APIKey("k"))
	r, err := llm.New(
		llm.Model("p", up, llm.Visible(llm.Internal), llm.Health(llm.ModelHealthPolicy{
			Unhealthy:           func(_ *http.Request, resp *http.Response) bool { return resp.Header.Get("X-Degraded") != "" },
			ConsecutiveFailures: 2, EvictFor: time.Hour})),
		llm.Model("s", s.upstream(), llm.Visible(llm.Internal)),
		llm.Failover("f", llm.Target{Model: "p", Priority: 0}, llm.Target{Model: "s", Priority: 1}),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	for i, want := range []string{"p", "p", "s", "s"} {
		np, ns := p.n.Load(), s.n.Load()
		askModel(t, base, "f", nil)
		if got := map[bool]string{true: "p", false: "s"}[p.n.Load() > np]; got != want || p.n.Load()-np+s.n.Load()-ns != 1 {
			t.Fatalf("request %d went to %s, want %s", i, got, want)
		}
	}
}
