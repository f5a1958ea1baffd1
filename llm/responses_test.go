package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/agentgw/agentgateway/llm"
)

// responsesRouter routes "claude" to an Anthropic stub, "gem" to the Gemini stub and "bd" to the
// Bedrock stub.
func responsesRouter(t *testing.T) (string, *recorder) {
	t.Helper()
	an, anURL := newRecorder(t, anthropicStubAnswer)
	gm := newProvStub(t, "gemini")
	bd := newProvStub(t, "bedrock")
	r, err := llm.New(
		llm.Model("claude", llm.Anthropic(llm.BaseURL(anURL+"/v1"), llm.UpstreamHeader("Authorization", "Bearer ya29.test-token")), llm.As("claude-sonnet-4")),
		llm.Model("gem", llm.Gemini(llm.BaseURL(gm.srv.URL+"/v1beta"), llm.APIKey("gk-up"))),
		llm.Model("bd", llm.Bedrock(testRegion, llm.BaseURL(bd.srv.URL), staticCreds(testSecretKey)), llm.As("anthropic.claude-3-5-haiku-20241022-v1:0")),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := serveLLM(t, r)
	return base, an
}

// TestResponsesClient runs the OpenAI SDK's Responses API through the gateway: to Anthropic plain
// and streamed (the full event sequence, ending in response.completed with usage), and a function
// call round trip (streamed and not) to Gemini and Bedrock.
func TestResponsesClient(t *testing.T) {
	base, an := responsesRouter(t)
	c := provOAClient(base)
	ctx := context.Background()

	resp, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "claude", Instructions: openai.String("be brief"),
		MaxOutputTokens: openai.Int(50), Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != "Hello Vertex" || resp.Status != "completed" || resp.Usage.InputTokens != 9 || resp.Usage.OutputTokens != 3 {
		t.Errorf("response %q status %q usage %+v", resp.OutputText(), resp.Status, resp.Usage)
	}
	uri, _, body := an.get()
	if uri != "/v1/messages" || body["system"] != "be brief" || body["model"] != "claude-sonnet-4" || body["max_tokens"] != float64(50) {
		t.Errorf("anthropic request %q %v", uri, body)
	}

	stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "claude",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	var types []string
	text := ""
	var done responses.Response
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			text += ev.Delta
		case "response.completed":
			done = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta " +
		"response.output_text.done response.content_part.done response.output_item.done response.completed"
	if strings.Join(types, " ") != want || text != "Hello Vertex" || done.OutputText() != "Hello Vertex" || done.Usage.OutputTokens != 3 {
		t.Errorf("events %v text %q completed %q usage %+v", types, text, done.OutputText(), done.Usage)
	}

	tool := responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}, false)
	for _, model := range []string{"gem", "bd"} {
		for _, streamed := range []bool{false, true} {
			input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("weather in Paris?", responses.EasyInputMessageRoleUser)}
			params := responses.ResponseNewParams{Model: model, Tools: []responses.ToolUnionParam{tool},
				Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}}
			var out responses.Response
			if streamed {
				s := c.Responses.NewStreaming(ctx, params)
				args := ""
				for s.Next() {
					switch ev := s.Current(); ev.Type {
					case "response.function_call_arguments.delta":
						args += ev.Delta
					case "response.completed":
						out = ev.Response
					}
				}
				if s.Err() != nil || args != `{"city":"Paris"}` {
					t.Fatalf("%s: streamed arguments %q err %v", model, args, s.Err())
				}
			} else {
				r, err := c.Responses.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				out = *r
			}
			var call *responses.ResponseFunctionToolCall
			for _, it := range out.Output {
				if it.Type == "function_call" {
					fc := it.AsFunctionCall()
					call = &fc
				}
			}
			if call == nil || call.Name != "get_weather" || call.CallID == "" {
				t.Fatalf("%s streamed=%v: no function call in %+v", model, streamed, out.Output)
			}
			var args map[string]string
			if err := json.Unmarshal([]byte(call.Arguments), &args); err != nil || args["city"] != "Paris" {
				t.Fatalf("%s: arguments %q", model, call.Arguments)
			}
			outItem := responses.ResponseInputItemParamOfFunctionCallOutput("sunny, 21C")
			outItem.OfFunctionCallOutput.CallID = openai.String(call.CallID)
			params.Input.OfInputItemList = append(input, responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name), outItem)
			final, err := c.Responses.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if final.OutputText() != "Weather: sunny, 21C" {
				t.Errorf("%s streamed=%v: final %q", model, streamed, final.OutputText())
			}
		}
	}
}

// TestResponsesBadInput: stateless limits and malformed bodies are OpenAI error objects with 400.
func TestResponsesBadInput(t *testing.T) {
	base, _ := responsesRouter(t)
	for _, body := range []string{
		`{"model":"claude","input":"hi","previous_response_id":"resp_1"}`,
		`{"model":"claude","input":[{"type":"web_search_call"}]}`,
		`{"model":"claude"}`,
		`{"model":"claude","input":`,
	} {
		resp, err := http.Post(base+"/v1/responses", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error *struct{ Message, Type string } `json:"error"`
		}
		if resp.StatusCode != 400 || json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Type != "invalid_request_error" {
			t.Errorf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	// An unknown model is 404 in the same format, as the SDK reads it.
	c := provOAClient(base)
	_, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "nope", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 404 {
		t.Errorf("unknown model: %v", err)
	}
}
