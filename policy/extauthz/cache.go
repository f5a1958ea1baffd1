package extauthz

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/cel-go/common/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// Cache reuses authorization decisions (agentgateway's `extAuthz.cache`). Its safety depends on Key
// capturing everything the service decides on: requests with equal keys get the same answer.
type Cache struct {
	// Key are CEL expressions whose values together make the cache key. A request for which they are
	// all empty (or one fails) is not cached.
	Key []string
	// TTL is a CEL expression giving how long a decision is reused: a duration, or a timestamp when
	// it expires. It is evaluated after the decision has been applied to the request, so it can read
	// what the service returned (extauthz.*, headers). A zero or negative TTL caches nothing.
	TTL string
	// MaxEntries bounds the cache (default 10000).
	MaxEntries int
	// Now overrides the clock (tests).
	Now func() time.Time
}

type decisionCache struct {
	keys []*cel.Program
	ttl  *cel.Program
	max  int
	now  func() time.Time

	mu sync.Mutex
	m  map[[32]byte]cachedDecision
}

type cachedDecision struct {
	d       *decision
	expires time.Time
}

func newDecisionCache(c *Cache) (*decisionCache, error) {
	dc := &decisionCache{max: c.MaxEntries, now: c.Now, m: map[[32]byte]cachedDecision{}}
	if dc.max < 0 {
		return nil, agentgateway.Errorf("cache.maxEntries", "must not be negative")
	}
	if dc.max == 0 {
		dc.max = 10000
	}
	if dc.now == nil {
		dc.now = time.Now
	}
	if len(c.Key) == 0 {
		return nil, agentgateway.Errorf("cache.key", "required")
	}
	for i, k := range c.Key {
		p, err := cel.Compile(k, nil)
		if err != nil {
			return nil, agentgateway.Errorf(fmt.Sprintf("cache.key[%d]", i), "%w", err)
		}
		dc.keys = append(dc.keys, p)
	}
	if c.TTL == "" {
		return nil, agentgateway.Errorf("cache.ttl", "required")
	}
	p, err := cel.Compile(c.TTL, nil)
	if err != nil {
		return nil, agentgateway.Errorf("cache.ttl", "%w", err)
	}
	dc.ttl = p
	return dc, nil
}

// key evaluates the key expressions; ok is false when the request is not to be cached.
func (c *decisionCache) key(r *http.Request) (string, bool) {
	act := cel.NewActivation(r, nil)
	parts := make([]any, 0, len(c.keys))
	nonEmpty := false
	for _, p := range c.keys {
		v, err := p.Eval(r.Context(), act)
		if err != nil {
			return "", false
		}
		nv := cel.Native(v)
		if s, ok := nv.(string); !ok || s != "" {
			nonEmpty = nonEmpty || nv != nil
		}
		parts = append(parts, nv)
	}
	if !nonEmpty {
		return "", false
	}
	b, err := json.Marshal(parts)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func (c *decisionCache) get(key string) (*decision, bool) {
	h := sha256.Sum256([]byte(key))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[h]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		delete(c.m, h)
		return nil, false
	}
	return e.d, true
}

// put stores d for key until the TTL expression, evaluated on the request as d left it, says.
func (c *decisionCache) put(key string, d *decision, r *http.Request, st *agentgateway.State) {
	v, err := c.ttl.Eval(context.WithoutCancel(r.Context()), cel.NewActivation(r, st))
	if err != nil {
		return
	}
	now := c.now()
	var expires time.Time
	switch x := v.(type) {
	case types.Duration:
		expires = now.Add(x.Duration)
	case types.Timestamp:
		expires = x.Time
	default:
		return
	}
	if !now.Before(expires) {
		return
	}
	stored := *d
	stored.cacheKey = ""
	h := sha256.Sum256([]byte(key))
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[h]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[h] = cachedDecision{d: &stored, expires: expires}
}
