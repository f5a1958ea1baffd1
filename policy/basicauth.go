package policy

import (
	"bufio"
	"bytes"
	"crypto/sha1" //nolint:gosec // htpasswd's {SHA} scheme is SHA-1 by definition
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	agentgateway "github.com/agentgw/agentgateway"
)

// BasicAuthConfig configures HTTP Basic authentication against htpasswd content (agentgateway's
// `basicAuth`).
type BasicAuthConfig struct {
	// Htpasswd is the user database, in htpasswd format. bcrypt ($2a$/$2b$/$2y$) and {SHA} entries are
	// accepted; other schemes (plain text, crypt, MD5-apr1) are refused.
	Htpasswd []byte
	// Realm is shown in the WWW-Authenticate challenge (default "Restricted").
	Realm string
	// Mode is strict (the zero value) or optional.
	Mode Mode
	// Location is where credentials are read; nil means the Authorization header with "Basic ".
	Location *Location
}

// ErrHtpasswd is wrapped by htpasswd parse errors.
var ErrHtpasswd = errors.New("invalid htpasswd")

type htpasswdEntry struct {
	bcrypt []byte
	sha1   []byte
	apr1   string // htpasswd_apr1.go
}

// dummyHash keeps the time of a request for an unknown user close to that of a known one.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("agentgateway-dummy"), bcrypt.MinCost)

type basicAuth struct {
	mode      Mode
	loc       *locator
	users     map[string]htpasswdEntry
	challenge string

	mu    sync.Mutex
	cache map[string][32]byte // user → SHA-256 of a password bcrypt already accepted
}

// NewBasicAuth returns the Basic auth policy. A bcrypt check costs milliseconds by design, so a
// successful (user, password) pair is remembered (as a SHA-256, compared in constant time) and later
// requests skip bcrypt; at most 4096 users are remembered. The user becomes State.Identity.Subject.
func NewBasicAuth(spec BasicAuthConfig) (agentgateway.Policy, error) {
	mode, err := spec.Mode.validate("mode", ModeStrict, ModeOptional)
	if err != nil {
		return nil, err
	}
	loc, err := spec.Location.compile("location", &Location{Header: "Authorization", Prefix: "Basic "}, false)
	if err != nil {
		return nil, err
	}
	if len(spec.Htpasswd) == 0 {
		return nil, agentgateway.Errorf("htpasswd", "required")
	}
	users, err := ParseHtpasswd(spec.Htpasswd)
	if err != nil {
		return nil, agentgateway.Errorf("htpasswd", "%w", err)
	}
	realm := spec.Realm
	if realm == "" {
		realm = "Restricted"
	}
	b := &basicAuth{mode: mode, loc: loc, challenge: `Basic realm="` + sanitize(realm) + `", charset="UTF-8"`, cache: map[string][32]byte{}, users: map[string]htpasswdEntry{}}
	for u, h := range users {
		if strings.HasPrefix(h, "{SHA}") {
			sum, err := base64.StdEncoding.DecodeString(h[5:])
			if err != nil || len(sum) != sha1.Size {
				return nil, agentgateway.Errorf("htpasswd", "%w: user %q: bad {SHA} hash", ErrHtpasswd, u)
			}
			b.users[u] = htpasswdEntry{sha1: sum}
		} else if strings.HasPrefix(h, apr1Magic) {
			b.users[u] = htpasswdEntry{apr1: h}
		} else {
			b.users[u] = htpasswdEntry{bcrypt: []byte(h)}
		}
	}
	return agentgateway.NewPolicy(agentgateway.PhaseAuthn, b.middleware), nil
}

// ParseHtpasswd parses htpasswd content into user → hash. Blank lines and # comments are skipped;
// bcrypt, $apr1$ (MD5) and {SHA} hashes are accepted.
func ParseHtpasswd(data []byte) (map[string]string, error) {
	users := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || hash == "" {
			return nil, fmt.Errorf("%w: line %d: want user:hash", ErrHtpasswd, n)
		}
		switch {
		case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
			if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrHtpasswd, n, err)
			}
		case strings.HasPrefix(hash, "{SHA}"):
		case strings.HasPrefix(hash, apr1Magic):
			if _, ok := parseAPR1(hash); !ok {
				return nil, fmt.Errorf("%w: line %d: bad $apr1$ hash for user %q", ErrHtpasswd, n, user)
			}
		default:
			return nil, fmt.Errorf("%w: line %d: unsupported hash scheme for user %q (use bcrypt: htpasswd -B)", ErrHtpasswd, n, user)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("%w: line %d: duplicate user %q", ErrHtpasswd, n, user)
		}
		users[user] = hash
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHtpasswd, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%w: no users", ErrHtpasswd)
	}
	return users, nil
}

// ParseBasic decodes the credentials of a Basic authorization value (without the "Basic " prefix).
// Only canonical base64 is accepted: the decoder skips CR and LF, so a credential containing them is
// refused here rather than decoded to the same user as its canonical form.
func ParseBasic(cred string) (user, password string, ok bool) {
	if strings.ContainsAny(cred, "\r\n") {
		return "", "", false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(cred)
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(b), ":")
	if !ok || user == "" {
		return "", "", false
	}
	return user, password, true
}

func (b *basicAuth) check(user, password string) bool {
	e, known := b.users[user]
	if !known {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	if e.sha1 != nil {
		sum := sha1.Sum([]byte(password)) //nolint:gosec // the {SHA} htpasswd scheme
		return subtle.ConstantTimeCompare(sum[:], e.sha1) == 1
	}
	if e.apr1 != "" {
		return checkAPR1(e.apr1, password)
	}
	sum := sha256.Sum256([]byte(password))
	b.mu.Lock()
	cached, hit := b.cache[user]
	b.mu.Unlock()
	if hit && subtle.ConstantTimeCompare(sum[:], cached[:]) == 1 {
		return true
	}
	if bcrypt.CompareHashAndPassword(e.bcrypt, []byte(password)) != nil {
		return false
	}
	b.mu.Lock()
	if len(b.cache) >= 4096 {
		for k := range b.cache { // evict an arbitrary entry
			delete(b.cache, k)
			break
		}
	}
	b.cache[user] = sum
	b.mu.Unlock()
	return true
}

func (b *basicAuth) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, present := b.loc.extract(r)
		if !present {
			if b.mode == ModeStrict {
				challenge(w, b.challenge, "missing credentials")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		user, pass, ok := ParseBasic(cred)
		if !ok || !b.check(user, pass) {
			challenge(w, b.challenge, "invalid credentials")
			return
		}
		st, r := stateOf(r)
		st.Identity.Subject = user
		st.Identity.Method = "basicAuth"
		b.loc.remove(r)
		next.ServeHTTP(w, r)
	})
}
