package llm

import (
	"net/http"
	"strings"
)

// Optional interfaces a Provider may implement when the plain [Provider] contract is not enough.
// The router checks for them where it builds and sends the upstream request (see router.go, the
// calls to urlFor, signRequest and isUpstreamStream).

// modelPather is a provider whose URL names the model (Gemini "models/{m}:generateContent", Bedrock
// "/model/{id}/converse") or differs for streams. The path may carry a query ("?alt=sse").
type modelPather interface {
	PathFor(op Operation, model string, stream bool) string
}

// requestSigner is a provider that authenticates each request over its final headers and body
// (AWS SigV4) or with a token it fetches (Google credentials). It runs last, just before sending.
type requestSigner interface {
	SignRequest(req *http.Request, body []byte) error
}

// streamContentTyper is a provider whose streams are not server-sent events (Bedrock's
// application/vnd.amazon.eventstream).
type streamContentTyper interface {
	StreamContentType() string
}

// urlFor is the upstream URL of an operation for a model; a pathOverride still wins.
func (u *Upstream) urlFor(op Operation, model string, stream bool) string {
	mp, ok := u.provider.(modelPather)
	if !ok || (u.path != "" && op == OpChat) {
		return u.url(op)
	}
	return u.scheme + "://" + u.hostport + u.basePath + mp.PathFor(op, model, stream)
}

// signRequest runs the provider's signer, if it has one.
func signRequest(p Provider, req *http.Request, body []byte) error {
	if s, ok := p.(requestSigner); ok {
		return s.SignRequest(req, body)
	}
	return nil
}

// isUpstreamStream reports whether a provider's answer is a stream in its framing.
func isUpstreamStream(p Provider, h http.Header) bool {
	ct := h.Get("Content-Type")
	if s, ok := p.(streamContentTyper); ok {
		return strings.HasPrefix(ct, s.StreamContentType())
	}
	return strings.HasPrefix(ct, "text/event-stream")
}
