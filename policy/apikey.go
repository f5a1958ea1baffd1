package policy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"maps"
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

// APIKeyConfig configures API key authentication (agentgateway's `apiKey`).
type APIKeyConfig struct {
	// Keys are the accepted keys.
	Keys []APIKey
	// Mode is strict (the zero value), optional or permissive.
	Mode Mode
	// Location is where the key is read; nil means the Authorization header with "Bearer ".
	Location *Location
}

// APIKey is one accepted key: the key itself, or its SHA-256 as "sha256:<hex>" (so the config need
// not hold the secret), with metadata exposed to later policies (CEL: apiKey.*).
type APIKey struct {
	Key     string
	KeyHash string
	// Metadata is attached to requests authenticated with this key: its fields become
	// apiKey.<field>, and its "name" (or "sub", or "user") becomes the subject. It is not modified.
	Metadata map[string]any
	// AllowedModels restricts the LLM models the key may use; it is recorded as
	// apiKey.allowedModels for the llm package and for authorization rules.
	AllowedModels []string
}

type apiKeyEntry struct {
	hash     [32]byte
	subject  string
	metadata map[string]any
}

type apiKeyAuth struct {
	mode   Mode
	loc    *locator
	byHash map[[32]byte]*apiKeyEntry
	scheme string
}

// NewAPIKey returns the API key policy. Presented keys are hashed with SHA-256 and looked up by hash,
// then compared in constant time, so neither the lookup nor the comparison leaks key bytes through
// timing. The key is removed from the request before it is forwarded.
func NewAPIKey(spec APIKeyConfig) (agentgateway.Policy, error) {
	mode, err := spec.Mode.validate("mode", ModeStrict, ModeOptional, ModePermissive)
	if err != nil {
		return nil, err
	}
	loc, err := spec.Location.compile("location", BearerLocation(), false)
	if err != nil {
		return nil, err
	}
	a := &apiKeyAuth{mode: mode, loc: loc, byHash: map[[32]byte]*apiKeyEntry{}, scheme: `APIKey realm="agentgateway"`}
	if loc.kind == locHeader && strings.EqualFold(strings.TrimSpace(loc.prefix), "bearer") {
		a.scheme = bearerChallenge
	}
	if len(spec.Keys) == 0 {
		return nil, agentgateway.Errorf("keys", "at least one key is required")
	}
	for i, k := range spec.Keys {
		var e apiKeyEntry
		switch {
		case k.Key != "" && k.KeyHash != "":
			return nil, agentgateway.Errorf(fieldf("keys", i, ""), "set key or keyHash, not both")
		case k.Key != "":
			e.hash = sha256.Sum256([]byte(k.Key))
		case k.KeyHash != "":
			h, ok := strings.CutPrefix(k.KeyHash, "sha256:")
			b, err := hex.DecodeString(h)
			if !ok || err != nil || len(b) != 32 {
				return nil, agentgateway.Errorf(fieldf("keys", i, "keyHash"), "want sha256:<64 hex digits>")
			}
			copy(e.hash[:], b)
		default:
			return nil, agentgateway.Errorf(fieldf("keys", i, "key"), "required")
		}
		if _, dup := a.byHash[e.hash]; dup {
			return nil, agentgateway.Errorf(fieldf("keys", i, ""), "duplicate key")
		}
		e.metadata = maps.Clone(k.Metadata) // allowedModels is added below: the caller's map stays as given
		if e.metadata == nil {
			e.metadata = map[string]any{}
		}
		if k.AllowedModels != nil {
			models := make([]any, len(k.AllowedModels))
			for j, s := range k.AllowedModels {
				models[j] = s
			}
			e.metadata["allowedModels"] = models
		}
		for _, f := range []string{"name", "sub", "user"} {
			if s, ok := e.metadata[f].(string); ok && s != "" {
				e.subject = s
				break
			}
		}
		a.byHash[e.hash] = &e
	}
	return agentgateway.NewPolicy(agentgateway.PhaseAuthn, a.middleware), nil
}

func (a *apiKeyAuth) lookup(key string) *apiKeyEntry {
	h := sha256.Sum256([]byte(key))
	e := a.byHash[h]
	if e == nil || subtle.ConstantTimeCompare(h[:], e.hash[:]) != 1 {
		return nil
	}
	return e
}

func (a *apiKeyAuth) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, present := a.loc.extract(r)
		if !present {
			if a.mode == ModeStrict {
				challenge(w, a.scheme, "missing API key")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		e := a.lookup(key)
		if key == "" || e == nil {
			if a.mode == ModePermissive {
				next.ServeHTTP(w, r)
				return
			}
			challenge(w, a.scheme+`, error="invalid_token"`, "invalid API key")
			return
		}
		st, r := stateOf(r)
		st.Identity.APIKey = e.metadata
		if e.subject != "" && st.Identity.Subject == "" {
			st.Identity.Subject = e.subject
		}
		if st.Identity.Method == "" {
			st.Identity.Method = "apiKey"
		}
		a.loc.remove(r)
		next.ServeHTTP(w, r)
	})
}
