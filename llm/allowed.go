package llm

import (
	"errors"
	"fmt"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

// ErrModelNotAllowed is wrapped by the 403 answered when the caller's API key does not allow the
// requested model.
var ErrModelNotAllowed = errors.New("model not allowed for this API key")

// allowedModels returns the model patterns the caller's API key allows (agentgateway's
// apiKey.keys[].allowedModels, recorded by the apiKey policy as apiKey.allowedModels) and whether
// the key constrains models at all: an absent list allows every model, an empty one none.
func allowedModels(st *agentgateway.State) ([]string, bool) {
	if st == nil || st.Identity.APIKey == nil {
		return nil, false
	}
	switch v := st.Identity.APIKey["allowedModels"].(type) {
	case []string:
		return v, true
	case []any:
		out := make([]string, 0, len(v))
		for _, p := range v {
			if s, ok := p.(string); ok {
				out = append(out, s)
			}
		}
		return out, true
	case nil:
		return nil, false
	}
	return []string{}, true // a malformed list allows nothing rather than everything
}

// modelAllowed reports whether model matches one of patterns, in which '*' stands for any run of
// characters ("gpt-4o*", "*-mini", "*").
func modelAllowed(patterns []string, model string) bool {
	for _, p := range patterns {
		if globMatch(p, model) {
			return true
		}
	}
	return false
}

// globMatch matches s against p where '*' matches any (possibly empty) run of characters. It is
// linear in len(p)+len(s) for the greedy single-backtrack algorithm.
func globMatch(p, s string) bool {
	if !strings.Contains(p, "*") {
		return p == s
	}
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi, mark = star+1, mark+1
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// checkAllowed returns the 403 for a model the caller's API key does not allow, else nil.
func checkAllowed(st *agentgateway.State, model string) *Error {
	patterns, constrained := allowedModels(st)
	if !constrained || modelAllowed(patterns, model) {
		return nil
	}
	return &Error{Status: 403, Kind: ErrPermission, Param: "model",
		Message: fmt.Sprintf("This API key is not allowed to use the model `%s`.", model), Err: ErrModelNotAllowed}
}

// modelFilter returns which models /v1/models lists for the caller (nil: all).
func modelFilter(st *agentgateway.State) func(string) bool {
	patterns, constrained := allowedModels(st)
	if !constrained {
		return nil
	}
	return func(m string) bool { return modelAllowed(patterns, m) }
}
