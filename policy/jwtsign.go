package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	agentgateway "github.com/agentgw/agentgateway"
)

// KeySource is a PEM-encoded private key given inline (PEM) or read from File. A file is read again
// when its modification time or size changes, so a rotated key is used without a reload.
type KeySource struct {
	PEM  []byte
	File string
}

// JWTSignAuth signs a short-lived JWT per request (agentgateway's `backendAuth.jwtSign`), for
// upstreams that want keypair JWTs rather than a static secret (the Snowflake SQL API, say).
type JWTSignAuth struct {
	// SigningKey is the RSA or EC private key, matching Alg.
	SigningKey KeySource
	// Alg is RS256 (default), RS384, RS512, PS256, ES256 or ES384.
	Alg string
	// KID is the JWS "kid" header, when set.
	KID string
	// Claims are added to every token (iss, sub, aud...); iat, nbf and exp are the signer's.
	Claims map[string]any
	// TTL is the token lifetime (exp - iat); default 300s.
	TTL time.Duration
	// Location is where the token goes (default Authorization: Bearer).
	Location *Location
	// Now overrides the clock (tests).
	Now func() time.Time
}

// ErrSigningKey is wrapped by errors about a signing key that cannot be read or used.
var ErrSigningKey = errors.New("invalid signing key")

// signingAlgs are the algorithms the schema allows, with the key type each needs.
var signingAlgs = map[string]jwt.SigningMethod{
	"RS256": jwt.SigningMethodRS256, "RS384": jwt.SigningMethodRS384, "RS512": jwt.SigningMethodRS512,
	"PS256": jwt.SigningMethodPS256, "ES256": jwt.SigningMethodES256, "ES384": jwt.SigningMethodES384,
}

// jwtSigner signs tokens with a key that may come from a file reloaded on change.
type jwtSigner struct {
	method jwt.SigningMethod
	kid    string
	file   string
	extra  map[string]any // extra JOSE header fields (x5c, x5t#S256)

	mu    sync.Mutex
	key   crypto.Signer
	mtime time.Time
	size  int64
}

func newJWTSigner(field string, src KeySource, alg, kid string) (*jwtSigner, error) {
	if alg == "" {
		alg = "RS256"
	}
	m, ok := signingAlgs[alg]
	if !ok {
		return nil, agentgateway.Errorf(joinPath(field, "alg"), "unsupported algorithm %q (want RS256, RS384, RS512, PS256, ES256 or ES384)", alg)
	}
	s := &jwtSigner{method: m, kid: kid, file: src.File}
	if src.File == "" {
		if len(src.PEM) == 0 {
			return nil, agentgateway.Errorf(joinPath(field, "signingKey"), "required")
		}
		k, err := parseSigningKey(src.PEM, alg)
		if err != nil {
			return nil, agentgateway.Errorf(joinPath(field, "signingKey"), "%w", err)
		}
		s.key = k
		return s, nil
	}
	if _, err := s.current(); err != nil {
		return nil, agentgateway.Errorf(joinPath(field, "signingKey"), "%w", err)
	}
	return s, nil
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// current returns the key, re-reading the file when it changed since the last read. A file that
// became unreadable or invalid keeps the last good key (and reports nothing): a half-written key
// during rotation must not fail requests.
func (s *jwtSigner) current() (crypto.Signer, error) {
	if s.file == "" {
		return s.key, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.file)
	if err != nil {
		if s.key != nil {
			return s.key, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrSigningKey, err)
	}
	if s.key != nil && fi.ModTime().Equal(s.mtime) && fi.Size() == s.size {
		return s.key, nil
	}
	b, err := os.ReadFile(s.file)
	if err == nil {
		var k crypto.Signer
		if k, err = parseSigningKey(b, s.method.Alg()); err == nil {
			s.key, s.mtime, s.size = k, fi.ModTime(), fi.Size()
		}
	}
	if s.key == nil {
		return nil, fmt.Errorf("%s: %w", s.file, err)
	}
	return s.key, nil
}

// parseSigningKey reads a PKCS#8, PKCS#1 or SEC 1 PEM private key of the type alg needs.
func parseSigningKey(b []byte, alg string) (crypto.Signer, error) {
	var blk *pem.Block
	for rest := b; ; {
		blk, rest = pem.Decode(rest)
		if blk == nil || strings.Contains(blk.Type, "PRIVATE KEY") {
			break
		}
	}
	if blk == nil {
		return nil, fmt.Errorf("%w: no PEM private key", ErrSigningKey)
	}
	var key any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigningKey, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
			return nil, fmt.Errorf("%w: an RSA key cannot sign %s", ErrSigningKey, alg)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		want := map[string]int{"ES256": 256, "ES384": 384}[alg]
		if want == 0 || k.Curve.Params().BitSize != want {
			return nil, fmt.Errorf("%w: a P-%d key cannot sign %s", ErrSigningKey, k.Curve.Params().BitSize, alg)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: unsupported key type %T", ErrSigningKey, key)
}

// sign returns a compact JWS of claims.
func (s *jwtSigner) sign(claims jwt.MapClaims) (string, error) {
	k, err := s.current()
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(s.method, claims)
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	for h, v := range s.extra {
		t.Header[h] = v
	}
	return t.SignedString(k)
}

// reservedClaims are set by the signer.
var reservedClaims = []string{"iat", "nbf", "exp"}

type jwtSignAuth struct {
	signer *jwtSigner
	claims map[string]any
	ttl    time.Duration
	now    func() time.Time
	loc    *locator
}

func newJWTSignAuth(spec *JWTSignAuth) (*jwtSignAuth, error) {
	s, err := newJWTSigner("jwtSign", spec.SigningKey, spec.Alg, spec.KID)
	if err != nil {
		return nil, err
	}
	for _, c := range reservedClaims {
		if _, ok := spec.Claims[c]; ok {
			return nil, agentgateway.Errorf("jwtSign.claims."+c, "reserved: the signer sets iat, nbf and exp")
		}
	}
	loc, err := spec.Location.compile("jwtSign.location", BearerLocation(), true)
	if err != nil {
		return nil, err
	}
	a := &jwtSignAuth{signer: s, claims: spec.Claims, ttl: spec.TTL, now: spec.Now, loc: loc}
	if a.ttl < 0 {
		return nil, agentgateway.Errorf("jwtSign.ttl", "must not be negative")
	}
	if a.ttl == 0 {
		a.ttl = 300 * time.Second
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

func (a *jwtSignAuth) token() (string, error) {
	now := a.now()
	c := make(jwt.MapClaims, len(a.claims)+3)
	for k, v := range a.claims {
		c[k] = v
	}
	c["iat"] = now.Unix()
	c["nbf"] = now.Unix()
	c["exp"] = now.Add(a.ttl).Unix()
	return a.signer.sign(c)
}

func (a *jwtSignAuth) policy() agentgateway.Policy {
	return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := a.token()
			if err != nil {
				if st := agentgateway.StateFrom(r.Context()); st != nil {
					st.Err = fmt.Errorf("backendAuth jwtSign: %w", err)
				}
				agentgateway.WriteError(w, http.StatusInternalServerError, "backend credentials unavailable")
				return
			}
			a.loc.place(r, tok)
			// Each upstream request a backend builds itself (MCP targets) gets a fresh token.
			place := func(out *http.Request) {
				if t, err := a.token(); err == nil {
					a.loc.place(out, t)
				}
			}
			next.ServeHTTP(w, r.WithContext(agentgateway.WithBackendCredentials(r.Context(), place)))
		})
	})
}

// certHeaders returns the JOSE header fields for a certificate chain: "x5c" (the chain, standard
// base64 DER, RFC 7515 §4.1.6) or "x5t#S256" (the leaf's SHA-256 thumbprint, base64url).
func certHeaders(chain []byte, header string) (map[string]any, error) {
	var ders [][]byte
	for rest := chain; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			ders = append(ders, blk.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	if _, err := x509.ParseCertificate(ders[0]); err != nil {
		return nil, err
	}
	switch header {
	case "x5c":
		var x5c []string
		for _, d := range ders {
			x5c = append(x5c, base64.StdEncoding.EncodeToString(d))
		}
		return map[string]any{"x5c": x5c}, nil
	case "x5t#S256":
		sum := sha256.Sum256(ders[0])
		return map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])}, nil
	}
	return nil, fmt.Errorf("want x5c or x5t#S256, got %q", header)
}

// randomID is a 128-bit random hex string (assertion jti).
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
