package llm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// BedrockConverse is the AWS Bedrock Runtime Converse API as a [Provider]: POST
// /model/{modelId}/converse, and /converse-stream for streams (AWS event-stream framing). Requests
// are signed with SigV4 (service "bedrock") using the SDK's signer and, unless [AWSCredentials] gives
// others, the SDK's default credential chain (environment, shared config, SSO, IAM roles). A
// configured API key is sent instead as a Bedrock API key (Authorization: Bearer).
type BedrockConverse struct {
	// Region is the AWS region of the endpoint and of the signature.
	Region string
	// GuardrailIdentifier and GuardrailVersion apply a Bedrock guardrail to every call.
	GuardrailIdentifier, GuardrailVersion string

	signer *v4.Signer
	mu     sync.Mutex
	creds  aws.CredentialsProvider
	now    func() time.Time
}

var _ Provider = (*BedrockConverse)(nil)

// Bedrock is AWS Bedrock's Converse API in region (bedrock-runtime.{region}.amazonaws.com). Credentials
// come from [AWSCredentials], else the AWS SDK's default chain, looked up at the first call.
func Bedrock(region string, opts ...UpstreamOption) *Upstream {
	u := newUpstream(NewBedrockConverse(region), "aws.bedrock", "", opts)
	if region == "" {
		u.errs = append(u.errs, fmt.Errorf("bedrock: region is required"))
	}
	return u
}

// AWSCredentials signs a Bedrock upstream's requests with p (wrapped in the SDK's credentials cache)
// instead of the default chain.
func AWSCredentials(p aws.CredentialsProvider) UpstreamOption {
	return func(u *Upstream) {
		if b, ok := u.provider.(*BedrockConverse); ok {
			b.creds = aws.NewCredentialsCache(p)
		} else {
			u.errs = append(u.errs, fmt.Errorf("AWS credentials given to a %s provider", u.provider.Name()))
		}
	}
}

// BedrockGuardrail applies a Bedrock guardrail (guardrailConfig) to every call of the upstream.
func BedrockGuardrail(identifier, version string) UpstreamOption {
	return func(u *Upstream) {
		if b, ok := u.provider.(*BedrockConverse); ok {
			b.GuardrailIdentifier, b.GuardrailVersion = identifier, version
		}
	}
}

// Name implements [Provider].
func (*BedrockConverse) Name() string { return "aws.bedrock" }

// Wire implements [Provider]: none.
func (*BedrockConverse) Wire() string { return "" }

// DefaultBase implements [Provider].
func (b *BedrockConverse) DefaultBase() string {
	return "https://bedrock-runtime." + b.Region + ".amazonaws.com"
}

// Path implements [Provider]; the real path names the model (PathFor).
func (*BedrockConverse) Path(op Operation) string {
	if op == OpChat {
		return "/model"
	}
	return ""
}

// PathFor is /model/{modelId}/converse or /converse-stream. The model ID is escaped whole (ARNs
// and inference profile IDs contain ':' and '/'), as the AWS SDK does.
func (*BedrockConverse) PathFor(op Operation, model string, stream bool) string {
	id := strings.ReplaceAll(url.PathEscape(model), ":", "%3A")
	if stream {
		return "/model/" + id + "/converse-stream"
	}
	return "/model/" + id + "/converse"
}

// StreamContentType implements the router's stream check: AWS event-stream, not SSE.
func (*BedrockConverse) StreamContentType() string { return "application/vnd.amazon.eventstream" }

// SetHeaders implements [Provider]: a configured key is a Bedrock API key (bearer); without one the
// request is SigV4-signed in SignRequest.
func (*BedrockConverse) SetHeaders(h http.Header, key string) {
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
}

// SignRequest signs req with SigV4 over its final headers and body, unless it carries a Bedrock API
// key already.
func (b *BedrockConverse) SignRequest(req *http.Request, body []byte) error {
	if strings.HasSuffix(req.URL.Path, "/converse-stream") {
		req.Header.Set("Accept", b.StreamContentType())
	}
	if req.Header.Get("Authorization") != "" {
		return nil
	}
	creds, err := b.credentials(req.Context())
	if err != nil {
		return err
	}
	c, err := creds.Retrieve(req.Context())
	if err != nil {
		return fmt.Errorf("bedrock: AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	now := time.Now
	if b.now != nil {
		now = b.now
	}
	signer := b.signer
	if signer == nil {
		signer = v4.NewSigner()
	}
	if err := signer.SignHTTP(req.Context(), c, req, payload, "bedrock", b.Region, now()); err != nil {
		return fmt.Errorf("bedrock: signing: %w", err)
	}
	return nil
}

func (b *BedrockConverse) credentials(ctx context.Context) (aws.CredentialsProvider, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.creds != nil {
		return b.creds, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(b.Region))
	if err != nil {
		return nil, fmt.Errorf("bedrock: loading the default AWS configuration: %w", err)
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("bedrock: no AWS credentials in the default chain")
	}
	b.creds = aws.NewCredentialsCache(cfg.Credentials)
	return b.creds, nil
}

// --- wire types ---

type bdRequest struct {
	Messages                     []bdMessage        `json:"messages"`
	System                       []bdBlock          `json:"system,omitempty"`
	InferenceConfig              *bdInference       `json:"inferenceConfig,omitempty"`
	ToolConfig                   *bdToolConfig      `json:"toolConfig,omitempty"`
	AdditionalModelRequestFields map[string]any     `json:"additionalModelRequestFields,omitempty"`
	GuardrailConfig              *bdGuardrailConfig `json:"guardrailConfig,omitempty"`
}

type bdGuardrailConfig struct {
	GuardrailIdentifier string `json:"guardrailIdentifier"`
	GuardrailVersion    string `json:"guardrailVersion"`
}

type bdMessage struct {
	Role    string    `json:"role"`
	Content []bdBlock `json:"content"`
}

type bdBlock struct {
	Text             *string         `json:"text,omitempty"`
	Image            *bdImage        `json:"image,omitempty"`
	ToolUse          *bdToolUse      `json:"toolUse,omitempty"`
	ToolResult       *bdToolResult   `json:"toolResult,omitempty"`
	ReasoningContent *bdReasoning    `json:"reasoningContent,omitempty"`
	CachePoint       *bdCachePoint   `json:"cachePoint,omitempty"`
	JSON             json.RawMessage `json:"json,omitempty"`
}

type bdCachePoint struct {
	Type string `json:"type"`
}

type bdImage struct {
	Format string `json:"format"`
	Source struct {
		Bytes string `json:"bytes"`
	} `json:"source"`
}

type bdToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type bdToolResult struct {
	ToolUseID string    `json:"toolUseId"`
	Content   []bdBlock `json:"content"`
	Status    string    `json:"status,omitempty"`
}

type bdReasoning struct {
	ReasoningText *struct {
		Text      string `json:"text"`
		Signature string `json:"signature,omitempty"`
	} `json:"reasoningText,omitempty"`
	RedactedContent string `json:"redactedContent,omitempty"`
}

type bdInference struct {
	MaxTokens     int      `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type bdToolConfig struct {
	Tools      []bdTool       `json:"tools"`
	ToolChoice map[string]any `json:"toolChoice,omitempty"`
}

type bdTool struct {
	ToolSpec *struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		InputSchema struct {
			JSON json.RawMessage `json:"json"`
		} `json:"inputSchema"`
	} `json:"toolSpec,omitempty"`
	CachePoint *bdCachePoint `json:"cachePoint,omitempty"`
}

type bdUsage struct {
	InputTokens           int64 `json:"inputTokens"`
	OutputTokens          int64 `json:"outputTokens"`
	TotalTokens           int64 `json:"totalTokens"`
	CacheReadInputTokens  int64 `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int64 `json:"cacheWriteInputTokens"`
}

// usage normalises: Bedrock's inputTokens excludes the tokens read from or written to the cache.
func (u *bdUsage) usage() Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{InputTokens: u.InputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens, OutputTokens: u.OutputTokens,
		CachedInputTokens: u.CacheReadInputTokens, CacheCreationTokens: u.CacheWriteInputTokens}
}

type bdResponse struct {
	Output struct {
		Message *bdMessage `json:"message"`
	} `json:"output"`
	StopReason string   `json:"stopReason"`
	Usage      *bdUsage `json:"usage"`
}

var cachePoint = bdBlock{CachePoint: &bdCachePoint{Type: "default"}}

// --- Provider ---

// EncodeRequest implements [Provider]. The model is in the path. Parts, system prompts and tools that
// carry a cache marker (Anthropic cache_control) are followed by a cachePoint.
func (b *BedrockConverse) EncodeRequest(req *Request) ([]byte, error) {
	out := bdRequest{Messages: []bdMessage{}}
	for _, p := range req.System {
		t := p.Text
		out.System = append(out.System, bdBlock{Text: &t})
		if len(p.CacheControl) > 0 {
			out.System = append(out.System, cachePoint)
		}
	}
	inf := &bdInference{MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, StopSequences: req.Stop}
	if inf.MaxTokens != 0 || inf.Temperature != nil || inf.TopP != nil || len(inf.StopSequences) > 0 {
		out.InferenceConfig = inf
	}
	extra := map[string]any{}
	if req.TopK != nil {
		extra["top_k"] = *req.TopK
	}
	if t := req.Thinking; t != nil {
		budget := t.BudgetTokens
		if budget == 0 {
			budget = budgetForEffort(t.Effort)
		}
		if budget > 0 {
			extra["thinking"] = map[string]any{"type": "enabled", "budget_tokens": budget}
		}
	}
	if len(extra) > 0 {
		out.AdditionalModelRequestFields = extra
	}
	if b.GuardrailIdentifier != "" {
		out.GuardrailConfig = &bdGuardrailConfig{b.GuardrailIdentifier, b.GuardrailVersion}
	}
	if len(req.Tools) > 0 {
		tc := &bdToolConfig{}
		for _, t := range req.Tools {
			var bt bdTool
			bt.ToolSpec = &struct {
				Name        string `json:"name"`
				Description string `json:"description,omitempty"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			}{Name: t.Name, Description: t.Description}
			bt.ToolSpec.InputSchema.JSON = t.Parameters
			if len(bt.ToolSpec.InputSchema.JSON) == 0 {
				bt.ToolSpec.InputSchema.JSON = json.RawMessage(`{"type":"object"}`)
			}
			tc.Tools = append(tc.Tools, bt)
			if len(t.CacheControl) > 0 {
				tc.Tools = append(tc.Tools, bdTool{CachePoint: &bdCachePoint{Type: "default"}})
			}
		}
		if c := req.ToolChoice; c != nil {
			switch c.Mode {
			case ToolChoiceAuto:
				tc.ToolChoice = map[string]any{"auto": struct{}{}}
			case ToolChoiceRequired:
				tc.ToolChoice = map[string]any{"any": struct{}{}}
			case ToolChoiceTool:
				tc.ToolChoice = map[string]any{"tool": map[string]string{"name": c.Name}}
			}
			// ToolChoiceNone has no Converse equivalent; the tools stay declared (a history with
			// toolUse blocks needs them).
		}
		out.ToolConfig = tc
	}
	for _, m := range req.Messages {
		role := "user"
		if m.Role == RoleAssistant {
			role = "assistant"
		}
		var blocks []bdBlock
		for _, p := range m.Parts {
			bb, err := bedrockBlock(p)
			if err != nil {
				return nil, err
			}
			if bb == nil {
				continue
			}
			blocks = append(blocks, *bb)
			if len(p.CacheControl) > 0 {
				blocks = append(blocks, cachePoint)
			}
		}
		if len(blocks) == 0 {
			continue
		}
		// Converse wants user and assistant turns alternating: tool results and a following user
		// message become one turn.
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, bdMessage{Role: role, Content: blocks})
	}
	return json.Marshal(out)
}

func bedrockBlock(p Part) (*bdBlock, error) {
	switch p.Type {
	case PartText:
		if p.Text == "" {
			return nil, nil
		}
		t := p.Text
		return &bdBlock{Text: &t}, nil
	case PartImage:
		img, err := bedrockImage(p)
		if err != nil {
			return nil, err
		}
		return &bdBlock{Image: img}, nil
	case PartToolCall:
		args := p.Arguments
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		return &bdBlock{ToolUse: &bdToolUse{ToolUseID: p.ToolCallID, Name: p.ToolName, Input: args}}, nil
	case PartToolResult:
		tr := &bdToolResult{ToolUseID: p.ToolCallID, Content: []bdBlock{}}
		if p.IsError {
			tr.Status = "error"
		}
		for _, c := range p.Content {
			switch c.Type {
			case PartText:
				t := c.Text
				tr.Content = append(tr.Content, bdBlock{Text: &t})
			case PartImage:
				img, err := bedrockImage(c)
				if err != nil {
					return nil, err
				}
				tr.Content = append(tr.Content, bdBlock{Image: img})
			}
		}
		if len(tr.Content) == 0 {
			empty := ""
			tr.Content = append(tr.Content, bdBlock{Text: &empty})
		}
		return &bdBlock{ToolResult: tr}, nil
	case PartThinking:
		if p.Signature == "" {
			return nil, nil // unsigned reasoning cannot be sent back
		}
		r := &bdReasoning{ReasoningText: &struct {
			Text      string `json:"text"`
			Signature string `json:"signature,omitempty"`
		}{p.Text, p.Signature}}
		return &bdBlock{ReasoningContent: r}, nil
	case PartRedactedThinking:
		return &bdBlock{ReasoningContent: &bdReasoning{RedactedContent: p.Data}}, nil
	}
	return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Message: fmt.Sprintf("content of type %s cannot be sent to Bedrock", p.Type), Err: ErrUnsupported}
}

// bedrockImage is an inline image; Converse takes bytes (or S3), not URLs.
func bedrockImage(p Part) (*bdImage, error) {
	if p.Data == "" {
		return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Message: "Bedrock accepts only inline (base64) images, not image URLs", Err: ErrUnsupported}
	}
	img := &bdImage{Format: strings.TrimPrefix(p.MediaType, "image/")}
	if img.Format == "jpg" {
		img.Format = "jpeg"
	}
	img.Source.Bytes = p.Data
	return img, nil
}

func bedrockStop(s string) StopReason {
	switch s {
	case "tool_use":
		return StopToolUse
	case "max_tokens", "model_context_window_exceeded":
		return StopMaxTokens
	case "stop_sequence":
		return StopSequence
	case "guardrail_intervened", "content_filtered":
		return StopContentFilter
	}
	return StopEndTurn
}

func newMessageID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeResponse implements [Provider]. Converse answers carry no ID or model: the ID is made up
// and the router fills in the model it asked for.
func (*BedrockConverse) DecodeResponse(body []byte) (*Response, error) {
	var in bdResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("llm: bedrock response: %w", err)
	}
	resp := &Response{ID: newMessageID("msg_bdrk_"), StopReason: bedrockStop(in.StopReason), Usage: in.Usage.usage()}
	if in.Output.Message == nil {
		return resp, nil
	}
	for _, b := range in.Output.Message.Content {
		switch {
		case b.Text != nil:
			resp.Parts = append(resp.Parts, Part{Type: PartText, Text: *b.Text})
		case b.ToolUse != nil:
			args := b.ToolUse.Input
			if len(args) == 0 || string(args) == "null" {
				args = json.RawMessage("{}")
			}
			resp.Parts = append(resp.Parts, Part{Type: PartToolCall, ToolCallID: b.ToolUse.ToolUseID, ToolName: b.ToolUse.Name, Arguments: args})
		case b.ReasoningContent != nil && b.ReasoningContent.ReasoningText != nil:
			rt := b.ReasoningContent.ReasoningText
			resp.Parts = append(resp.Parts, Part{Type: PartThinking, Text: rt.Text, Signature: rt.Signature})
		case b.ReasoningContent != nil && b.ReasoningContent.RedactedContent != "":
			resp.Parts = append(resp.Parts, Part{Type: PartRedactedThinking, Data: b.ReasoningContent.RedactedContent})
		}
	}
	return resp, nil
}

// Usage implements [Provider].
func (*BedrockConverse) Usage(body []byte) (string, Usage) {
	var in struct {
		Usage *bdUsage `json:"usage"`
	}
	_ = json.Unmarshal(body, &in)
	return "", in.Usage.usage()
}

// DecodeError implements [Provider]: {"message": "..."} (AWS JSON protocol errors).
func (*BedrockConverse) DecodeError(status int, body []byte) *Error {
	e := &Error{Status: status, Kind: statusKind(status)}
	var in struct {
		Message  string `json:"message"`
		Message2 string `json:"Message"`
		Type     string `json:"__type"`
	}
	if json.Unmarshal(body, &in) == nil {
		e.Message = in.Message
		if e.Message == "" {
			e.Message = in.Message2
		}
		if _, t, ok := strings.Cut(in.Type, "#"); ok {
			e.Code = t
		} else {
			e.Code = in.Type
		}
	}
	if e.Message == "" {
		e.Message = upstreamText(status, body)
	}
	return e
}

// NewBedrockConverse returns the Bedrock provider of region with the default credential chain (for
// [Custom]; [Bedrock] is the usual way).
func NewBedrockConverse(region string) *BedrockConverse {
	return &BedrockConverse{Region: region, signer: v4.NewSigner()}
}
