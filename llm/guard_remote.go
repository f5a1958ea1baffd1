package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/agentgw/agentgateway/cel"
)

// webhookGuard calls a guardrail webhook (agentgateway's Guardrail Webhook API): POST {url}/request
// with {"body":{"messages":[{role,content}]}} and POST {url}/response with
// {"body":{"choices":[{"message":{role,content}}]}}; the answer {"action":{...}} passes (no body),
// masks (body: the same shape with the content rewritten) or rejects (body: a message and
// status_code).
type webhookGuard struct {
	url     string
	rt      http.RoundTripper
	headers http.Header
	exprs   []headerExpr
	forward []forwardHeader
	timeout time.Duration
	raw     *rawProcessor // messageFormat raw (guard_raw.go)
}

// headerExpr is a webhook header computed by a CEL expression over the client's request; the
// pseudo-headers :path, :method and :authority replace the call's path, method and host.
type headerExpr struct {
	name string
	prg  *cel.Program
}

type forwardHeader struct {
	name  string
	match func(string) bool
}

// moderationGuard calls OpenAI's moderation endpoint: POST {base}/moderations with the texts; any
// flagged result rejects.
type moderationGuard struct {
	model   string
	base    string
	key     string
	rt      http.RoundTripper
	timeout time.Duration
}

// DefaultModerationModel is the model of [Moderation] unless [Guard.Model] says otherwise.
const DefaultModerationModel = "omni-moderation-latest"

// Webhook is a guard that asks the webhook at url (scheme://host[:port][/prefix]) about the content:
// requests are POSTed to url+"/request", responses to url+"/response", in agentgateway's Guardrail
// Webhook API form. The webhook passes, masks (returns the messages rewritten) or rejects (with its
// own status and message). On a streamed response a webhook judges each text block when it ends,
// so the block is held until then.
func Webhook(url string) *Guard {
	g := &Guard{kind: kindWebhook, rejection: DefaultRejection, webhook: &webhookGuard{url: strings.TrimSuffix(url, "/")}}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		g.err = fmt.Errorf("webhook: url %q: want http(s)://host[:port]", url)
	}
	return g
}

// Moderation is a guard that sends request text to OpenAI's moderation API
// (https://api.openai.com/v1/moderations, key from OPENAI_API_KEY unless [Guard.Key] sets one) and
// rejects flagged content. It applies to requests only.
func Moderation() *Guard {
	return &Guard{kind: kindModeration, rejection: DefaultRejection,
		moderation: &moderationGuard{model: DefaultModerationModel, base: "https://api.openai.com/v1", key: os.Getenv("OPENAI_API_KEY")}}
}

// Model sets the moderation model (default [DefaultModerationModel]).
func (g *Guard) Model(model string) *Guard {
	if g.moderation != nil && model != "" {
		g.moderation.model = model
	}
	return g
}

// Endpoint sets the moderation API's base URL (default "https://api.openai.com/v1"; the request
// goes to base+"/moderations"), or a cloud guard's scheme://host[:port] (default the service's).
func (g *Guard) Endpoint(base string) *Guard {
	switch {
	case g.moderation != nil:
		g.moderation.base = strings.TrimSuffix(base, "/")
	case g.cloud != nil:
		b, err := cloudBase(base)
		if err != nil {
			g.err = errors.Join(g.err, err)
			return g
		}
		g.cloud.base = b
	}
	return g
}

// Key sets the moderation API key, or a cloud guard's key (as [Guard.Credentials] with [APIKey]).
func (g *Guard) Key(key string) *Guard {
	if g.cloud != nil {
		return g.Credentials(APIKey(key))
	}
	if g.moderation != nil {
		g.moderation.key = key
	}
	return g
}

// Header sets a header on every webhook or cloud guard call.
func (g *Guard) Header(name, value string) *Guard {
	if g.cloud != nil {
		if g.cloud.headers == nil {
			g.cloud.headers = http.Header{}
		}
		g.cloud.headers.Set(name, value)
	}
	if g.webhook != nil {
		if g.webhook.headers == nil {
			g.webhook.headers = http.Header{}
		}
		g.webhook.headers.Set(name, value)
	}
	return g
}

// HeaderExpr sets a header of every webhook call to the value of a CEL expression evaluated
// against the client's request (request.*, jwt.*, llm.*). name may be :path (replacing the default
// /request or /response), :method or :authority.
func (g *Guard) HeaderExpr(name, expr string) *Guard {
	if g.webhook == nil {
		return g
	}
	prg, err := cel.Compile(expr, nil)
	if err != nil {
		g.err = errors.Join(g.err, fmt.Errorf("webhook.headers.%s: %w", name, err))
		return g
	}
	switch {
	case name == ":path" || name == ":method" || name == ":authority":
	case strings.HasPrefix(name, ":"):
		g.err = errors.Join(g.err, fmt.Errorf("webhook.headers.%s: want a header name, :path, :method or :authority", name))
		return g
	default:
		name = http.CanonicalHeaderKey(name)
	}
	g.webhook.exprs = append(g.webhook.exprs, headerExpr{name, prg})
	return g
}

// ForwardHeader forwards the client's header name to the webhook when match accepts its value (nil
// accepts any).
func (g *Guard) ForwardHeader(name string, match func(value string) bool) *Guard {
	if g.webhook != nil {
		g.webhook.forward = append(g.webhook.forward, forwardHeader{http.CanonicalHeaderKey(name), match})
	}
	return g
}

// Via sends the webhook, moderation or cloud guard calls through rt (default
// http.DefaultTransport).
func (g *Guard) Via(rt http.RoundTripper) *Guard {
	switch {
	case g.webhook != nil:
		g.webhook.rt = rt
	case g.moderation != nil:
		g.moderation.rt = rt
	case g.cloud != nil:
		g.cloud.rt = rt
	}
	return g
}

// ViaHandler serves the webhook or moderation calls with h in process (a backend of the gateway,
// tests).
func (g *Guard) ViaHandler(h http.Handler) *Guard { return g.Via(handlerTransport{h}) }

// rejectedError is the cause of a guard rejection: it carries the rejection for the answer.
type rejectedError struct{ rej Rejection }

func (e *rejectedError) Error() string { return ErrGuardRejected.Error() }
func (e *rejectedError) Unwrap() error { return ErrGuardRejected }

func rejectionError(g *Guard) *Error {
	return rejectWith(g.rejection)
}

func rejectWith(r Rejection) *Error {
	msg := r.Body
	return &Error{Status: r.Status, Kind: statusKind(r.Status), Message: msg, Err: &rejectedError{r}}
}

// guardFailure is the answer when a webhook or moderation call failed and the guard fails closed.
func guardFailure(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Kind: ErrOverloaded, Message: "a prompt guard is unavailable",
		Err: fmt.Errorf("%w: %w", ErrGuardFailed, err)}
}

// rejectionOf returns the rejection an error carries, if it is a guard rejection.
func rejectionOf(e *Error) *Rejection {
	var re *rejectedError
	if e != nil && errors.As(e.Err, &re) {
		return &re.rej
	}
	return nil
}

// writeRejection sets a rejection's headers and returns the body to send instead of the format's
// error object: a Body that is a JSON object is sent as it is, else nil.
func writeRejectionHeaders(h http.Header, r *Rejection) []byte {
	for k, v := range r.Set {
		h.Set(k, v)
	}
	for k, v := range r.Add {
		h.Add(k, v)
	}
	for _, k := range r.Remove {
		h.Del(k)
	}
	b := bytes.TrimSpace([]byte(r.Body))
	if len(b) > 0 && b[0] == '{' && json.Valid(b) {
		return b
	}
	return nil
}

const defaultGuardTimeout = 10 * time.Second

// webhookTarget is where one remote guard call goes.
type webhookTarget struct {
	method, url, host string
}

// post sends a JSON call of a remote guard and decodes the answer into out.
func postJSON(ctx context.Context, rt http.RoundTripper, timeout time.Duration, url string, hdr http.Header, in, out any) error {
	return sendJSON(ctx, rt, timeout, webhookTarget{http.MethodPost, url, ""}, hdr, in, out)
}

func sendJSON(ctx context.Context, rt http.RoundTripper, timeout time.Duration, c webhookTarget, hdr http.Header, in, out any) error {
	url := c.url
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = defaultGuardTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if c.host != "" {
		req.Host = c.host
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: bad answer: %w", url, err)
	}
	return nil
}

// whMessage is a message of the webhook API.
type whMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type whChoice struct {
	Message whMessage `json:"message"`
}

// whAnswer is the webhook's answer: {"action": {...}}. The action's kind is told by its body: absent
// for pass, an object for mask, a string (with status_code) for reject.
type whAnswer struct {
	Action *struct {
		Body       json.RawMessage `json:"body"`
		StatusCode int             `json:"status_code"`
		Reason     string          `json:"reason"`
	} `json:"action"`
}

// send calls the webhook at path (/request or /response) unless an expression says otherwise.
func (w *webhookGuard) send(ctx context.Context, client *http.Request, path string, in, out any) error {
	c := webhookTarget{http.MethodPost, w.url + path, ""}
	h := w.headersFor(client)
	if len(w.exprs) > 0 {
		act := cel.NewActivation(client, nil)
		for _, e := range w.exprs {
			v, err := e.prg.EvalString(ctx, act)
			if err != nil {
				return fmt.Errorf("webhook header %s: %w", e.name, err)
			}
			switch e.name {
			case ":path":
				c.url = w.url + "/" + strings.TrimPrefix(v, "/")
			case ":method":
				c.method = v
			case ":authority":
				c.host = v
			default:
				h.Set(e.name, v)
			}
		}
	}
	return sendJSON(ctx, w.rt, w.timeout, c, h, in, out)
}

func (w *webhookGuard) headersFor(client *http.Request) http.Header {
	h := http.Header{}
	if client != nil {
		for _, f := range w.forward {
			for _, v := range client.Header.Values(f.name) {
				if f.match == nil || f.match(v) {
					h.Add(f.name, v)
				}
			}
		}
	}
	for k, v := range w.headers {
		h[k] = v
	}
	return h
}

// judgeMessages runs a webhook request guard: the masked texts (nil: unchanged) or a rejection.
func (w *webhookGuard) judgeMessages(ctx context.Context, client *http.Request, g *Guard, msgs []whMessage) ([]string, *Error) {
	var ans whAnswer
	in := map[string]any{"body": map[string]any{"messages": msgs}}
	if err := w.send(ctx, client, "/request", in, &ans); err != nil {
		return nil, failed(g, err)
	}
	return w.verdict(g, ans, len(msgs), func(body json.RawMessage) ([]string, error) {
		var b struct {
			Messages []whMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, err
		}
		out := make([]string, len(b.Messages))
		for i, m := range b.Messages {
			out[i] = m.Content
		}
		return out, nil
	})
}

// judgeChoices runs a webhook response guard on assistant texts.
func (w *webhookGuard) judgeChoices(ctx context.Context, client *http.Request, g *Guard, texts []string) ([]string, *Error) {
	choices := make([]whChoice, len(texts))
	for i, t := range texts {
		choices[i] = whChoice{whMessage{"assistant", t}}
	}
	var ans whAnswer
	in := map[string]any{"body": map[string]any{"choices": choices}}
	if err := w.send(ctx, client, "/response", in, &ans); err != nil {
		return nil, failed(g, err)
	}
	return w.verdict(g, ans, len(texts), func(body json.RawMessage) ([]string, error) {
		var b struct {
			Choices []whChoice `json:"choices"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, err
		}
		out := make([]string, len(b.Choices))
		for i, c := range b.Choices {
			out[i] = c.Message.Content
		}
		return out, nil
	})
}

func (w *webhookGuard) verdict(g *Guard, ans whAnswer, n int, masked func(json.RawMessage) ([]string, error)) ([]string, *Error) {
	a := ans.Action
	if a == nil {
		return nil, failed(g, errors.New("webhook answer has no action"))
	}
	body := bytes.TrimSpace(a.Body)
	switch {
	case len(body) == 0 || string(body) == "null":
		return nil, nil // pass
	case body[0] == '"' || a.StatusCode != 0:
		var msg string
		_ = json.Unmarshal(body, &msg)
		rej := g.rejection
		if msg != "" {
			rej.Body = msg
		}
		if a.StatusCode >= 100 && a.StatusCode <= 999 {
			rej.Status = a.StatusCode
		}
		return nil, rejectWith(rej)
	}
	out, err := masked(body)
	if err != nil || len(out) != n {
		if err == nil {
			err = fmt.Errorf("webhook masked %d messages, want %d", len(out), n)
		}
		return nil, failed(g, err)
	}
	return out, nil
}

// failed is a remote guard's failure: nil (let through) when it fails open.
func failed(g *Guard, err error) *Error {
	if g.failOpen {
		return nil
	}
	return guardFailure(err)
}

// judge runs the moderation guard on texts.
func (m *moderationGuard) judge(ctx context.Context, g *Guard, texts []string) *Error {
	if len(texts) == 0 {
		return nil
	}
	var ans struct {
		Results []struct {
			Flagged bool `json:"flagged"`
		} `json:"results"`
	}
	h := http.Header{}
	if m.key != "" {
		h.Set("Authorization", "Bearer "+m.key)
	}
	if err := postJSON(ctx, m.rt, m.timeout, m.base+"/moderations", h, map[string]any{"model": m.model, "input": texts}, &ans); err != nil {
		return failed(g, err)
	}
	if len(ans.Results) == 0 {
		return failed(g, errors.New("moderation answer has no results"))
	}
	for _, r := range ans.Results {
		if r.Flagged {
			return rejectionError(g)
		}
	}
	return nil
}
