package llm

import (
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
)

// Token budgets are the gateway's local rate limit counted in LLM tokens (policy.NewLocalRateLimit
// with policy.RateLimitTokens; YAML localRateLimit with type: tokens). The router's part is to tell
// the policy, through the State, what a call is estimated to cost before it is made
// (LLMState.InputTokensEstimate) and how to refuse it in the client's own format
// (LLMState.WriteError); the real usage it records after the call settles the charge.

// fillBudgetState records the estimate and the client's error writer for the request's policies.
func fillBudgetState(st *agentgateway.State, in *inspected) {
	st.LLM.WriteError = clientErrorWriter(in.ep.format)
	if in.body != nil && in.ep.op == OpChat {
		st.LLM.InputTokensEstimate = int64(EstimateTokens(in.body))
	}
}

// clientErrorWriter returns a writer of gateway-made errors in f's format. The formats of this
// package get a static function, so a request does not allocate one.
func clientErrorWriter(f Format) func(http.ResponseWriter, int, string) {
	switch f.(type) {
	case OpenAIChat:
		return writeOpenAIError
	case AnthropicMessages:
		return writeAnthropicError
	case OpenAIResponses:
		return writeResponsesError
	}
	return func(w http.ResponseWriter, status int, msg string) { writeError(w, f, gatewayError(status, msg)) }
}

func writeOpenAIError(w http.ResponseWriter, status int, msg string) {
	writeError(w, OpenAIChat{}, gatewayError(status, msg))
}

func writeAnthropicError(w http.ResponseWriter, status int, msg string) {
	writeError(w, AnthropicMessages{}, gatewayError(status, msg))
}

func writeResponsesError(w http.ResponseWriter, status int, msg string) {
	writeError(w, OpenAIResponses{}, gatewayError(status, msg))
}

// gatewayError is the *Error of a status the gateway itself answers.
func gatewayError(status int, msg string) *Error {
	return &Error{Status: status, Kind: statusKind(status), Message: msg}
}
