package llm

import (
	"errors"
	"fmt"
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// MetadataEntry is one member of Bedrock's requestMetadata: a fixed Value, or an Expression (CEL over
// the client's request: request.headers, jwt claims, ...) evaluated on each call; numbers and
// booleans are formatted.
type MetadataEntry struct {
	Key, Value, Expression string
}

type metaEntry struct {
	key, value string
	prg        *cel.Program
}

// maxMetadata and maxMetadataLen are Bedrock's limits on requestMetadata: 16 pairs, keys and values
// of at most 256 characters.
const (
	maxMetadata    = 16
	maxMetadataLen = 256
)

// ErrRequestMetadata is the cause of a call refused because a requestMetadata expression could not
// be evaluated or gave an unusable value: the call is refused rather than sent unattributed.
var ErrRequestMetadata = errors.New("requestMetadata could not be resolved")

// RequestMetadata sets Bedrock Converse's requestMetadata on every chat call of the upstream: the
// pairs are recorded with the call in Bedrock's model invocation logs, so a caller's identity (a
// validated JWT subject) can attribute each prompt. A call whose expression fails, or gives a value
// that is not a string (or number, boolean) of at most 256 characters, is answered 400 before it reaches the provider.
func RequestMetadata(entries ...MetadataEntry) UpstreamOption {
	return func(u *Upstream) {
		if len(entries) > maxMetadata {
			u.errs = append(u.errs, fmt.Errorf("requestMetadata: %d entries, Bedrock allows %d", len(entries), maxMetadata))
		}
		seen := map[string]bool{}
		for i, e := range entries {
			switch {
			case e.Key == "" || len(e.Key) > maxMetadataLen:
				u.errs = append(u.errs, fmt.Errorf("requestMetadata[%d].key: want 1 to %d characters", i, maxMetadataLen))
				continue
			case seen[e.Key]:
				u.errs = append(u.errs, fmt.Errorf("requestMetadata[%d].key: %q repeated", i, e.Key))
				continue
			case (e.Value == "") == (e.Expression == ""):
				u.errs = append(u.errs, fmt.Errorf("requestMetadata[%d]: set exactly one of value, expression", i))
				continue
			case len(e.Value) > maxMetadataLen:
				u.errs = append(u.errs, fmt.Errorf("requestMetadata[%d].value: longer than %d characters", i, maxMetadataLen))
				continue
			}
			seen[e.Key] = true
			m := metaEntry{key: e.Key, value: e.Value}
			if e.Expression != "" {
				prg, err := cel.Compile(e.Expression, nil)
				if err != nil {
					u.errs = append(u.errs, fmt.Errorf("requestMetadata[%d].expression: %w", i, err))
					continue
				}
				m.prg = prg
			}
			u.meta = append(u.meta, m)
		}
	}
}

// withMetadata sets the upstream's requestMetadata on a provider request body.
func (u *Upstream) withMetadata(req *http.Request, st *agentgateway.State, body []byte) ([]byte, *Error) {
	refuse := func(key string, err error) *Error {
		return &Error{Status: 400, Kind: ErrInvalidRequest, Message: fmt.Sprintf("requestMetadata %q could not be resolved for this request", key),
			Err: fmt.Errorf("%w: %s: %w", ErrRequestMetadata, key, err)}
	}
	meta := make(map[string]any, len(u.meta))
	var act *cel.Activation
	for _, m := range u.meta {
		if m.prg == nil {
			meta[m.key] = m.value
			continue
		}
		if act == nil {
			act = cel.NewActivation(req, st)
		}
		s, err := m.prg.EvalString(req.Context(), act)
		switch {
		case err != nil:
			return nil, refuse(m.key, err)
		case len(s) > maxMetadataLen:
			return nil, refuse(m.key, fmt.Errorf("value longer than %d characters", maxMetadataLen))
		}
		meta[m.key] = s
	}
	doc, e := parseDoc(body)
	if e != nil {
		return nil, e
	}
	doc["requestMetadata"] = meta
	out, err := marshalDoc(doc)
	if err != nil {
		return nil, asError(err)
	}
	return out, nil
}
