// Package llm is the gateway's LLM layer: it routes, translates and accounts calls from OpenAI,
// Anthropic and Gemini clients to model providers.
//
// # Design
//
// Every call goes through one provider-neutral representation: [Request], [Response], [Event] (a
// stream) and [Error]. A [Format] is one client-facing API — it decodes the client's request and
// encodes responses, stream events and errors back in the client's wire format; a [Provider] is one
// upstream API — it encodes requests and decodes responses, streams and errors. A client of format F
// reaching a provider of wire W goes F.DecodeRequest → W.EncodeRequest → upstream → W.DecodeResponse
// (or W.NewStreamDecoder) → F.EncodeResponse (or F.NewStreamEncoder). When F and W are the same wire
// the request bytes pass with only the model rewritten and the answer passes unchanged, its usage
// read on the way (the fast path).
//
// Client APIs served by a [Router], under any route prefix:
//
//	POST .../v1/chat/completions        OpenAI Chat Completions (streaming and not)
//	POST .../v1/messages                Anthropic Messages (streaming and not)
//	POST .../v1/messages/count_tokens   Anthropic token count (forwarded to Anthropic, else estimated)
//	POST .../v1/responses               OpenAI Responses (stateless)
//	POST .../v1/embeddings              OpenAI embeddings (OpenAI-compatible, Azure, Gemini, Vertex, Bedrock Titan/Cohere)
//	POST .../models/{m}:generateContent        Gemini (see [GeminiNative])
//	POST .../models/{m}:streamGenerateContent  Gemini streams: ?alt=sse, else a JSON array
//	POST .../models/{m}:countTokens            Gemini token count
//	GET  .../v1/models                  the configured public models and virtual models (Gemini form under v1beta)
//
// A model may be [Passthrough]: its requests and answers pass byte for byte, with usage still read
// (detect) or not (opaque). Upstreams authenticate with keys, the client's key, or cloud credentials:
// [AzureEntra], [GoogleCredentials], [AWSSigV4], [BearerToken].
//
// Errors always reach the client in its own format: an Anthropic client gets an Anthropic error object
// (mid-stream: an "error" event), an OpenAI client an OpenAI error object (mid-stream: a data event
// holding it). Malformed JSON is 400, an unknown model 404, an oversized body 413.
//
// Each request fills agentgateway.State.LLM (operation, provider, request and response model,
// streaming, normalised token usage, time to first token) before the route's policies run (the
// Router is an agentgateway.Inspector) and as the answer passes.
//
// # Governance
//
// An [AIPolicy] (agentgateway's `ai` policy) governs calls: [PromptGuard] guards ([Regex] with
// built-in PII patterns, [Webhook], [Moderation], and the cloud services [BedrockGuardrails],
// [GoogleModelArmor] and [AzureContentSafety]) that mask or reject requests and answers — streamed
// answers too, a match split over deltas included, holding back only the tail that may still be part
// of one — plus request field defaults, overrides and CEL transformations, prompt enrichment, model
// aliases and prompt-cache markers. Apply it to every call with [Govern], to a route or backend with
// [NewAIPolicy], or per model with [ModelGuardrails] and [ModelPromptCaching]. A rejection reaches the
// client in its own format with the guard's status. [AIPolicy.Routes] says which API each request
// path serves (or that it passes through, with usage read by detect — AWS event streams included);
// model entries can be chosen by request headers ([MatchHeaders]), compute request fields with CEL
// ([Transform]) and be evicted by a health policy ([Health]).
package llm
