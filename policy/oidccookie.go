package policy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// maxCookieBytes bounds a cookie's name=value: browsers drop cookies above 4096 bytes silently, which
// would loop the user through the provider forever, so sessions that do not fit are refused at login.
const maxCookieBytes = 4000

// ErrSessionCookie is wrapped when a session or login cookie cannot be opened: malformed, too large,
// tampered with, sealed with another key or for another cookie name, or expired.
var ErrSessionCookie = errors.New("invalid session cookie")

// cookieCodec seals values into cookies with AES-GCM: the value is confidential (ID token claims,
// PKCE verifier) and authenticated. The cookie name is the additional data, so a value sealed for one
// cookie (the login state) is refused as another (the session).
type cookieCodec struct{ aead cipher.AEAD }

func newCookieCodec(key []byte) (*cookieCodec, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("want a 16, 24 or 32 byte AES key, got %d bytes", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &cookieCodec{aead: aead}, nil
}

// seal encodes v as JSON, encrypts it and returns the cookie value.
func (c *cookieCodec) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := base64.RawURLEncoding.EncodeToString(c.aead.Seal(nonce, nonce, plain, []byte(name)))
	if len(name)+1+len(out) > maxCookieBytes {
		return "", fmt.Errorf("%w: %d bytes, more than the %d a browser keeps", ErrSessionCookie, len(name)+1+len(out), maxCookieBytes)
	}
	return out, nil
}

// open authenticates and decrypts a cookie value into v.
func (c *cookieCodec) open(name, value string, v any) error {
	if len(name)+1+len(value) > maxCookieBytes {
		return fmt.Errorf("%w: too large", ErrSessionCookie)
	}
	// One encoding per value: the decoder alone would skip CR/LF and accept non-canonical last bits.
	if !isBase64URL(value) {
		return fmt.Errorf("%w: not base64url", ErrSessionCookie)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil {
		return fmt.Errorf("%w: not base64url", ErrSessionCookie)
	}
	ns := c.aead.NonceSize()
	if len(raw) < ns+c.aead.Overhead() {
		return fmt.Errorf("%w: too short", ErrSessionCookie)
	}
	plain, err := c.aead.Open(nil, raw[:ns], raw[ns:], []byte(name))
	if err != nil {
		return fmt.Errorf("%w: authentication failed", ErrSessionCookie)
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("%w: %v", ErrSessionCookie, err)
	}
	return nil
}

// oidcSession is the session cookie's content.
type oidcSession struct {
	Exp     int64          `json:"e"`           // unix seconds
	Claims  map[string]any `json:"c"`           // the verified ID token's claims
	IDToken string         `json:"t,omitempty"` // id_token_hint for RP-initiated logout, when it fits
	// AccessToken is forwarded to the backend (OIDCConfig.PassAccessToken only).
	AccessToken string `json:"a,omitempty"`
	// RefreshToken renews the session when the access token expires at TokenExp (unix seconds)
	// (OIDCConfig.RefreshSessionTTL only).
	RefreshToken string `json:"r,omitempty"`
	TokenExp     int64  `json:"x,omitempty"`
}

// oidcLogin is a login in progress: the login cookie's content, read back at the callback.
type oidcLogin struct {
	Exp      int64  `json:"e"`
	State    string `json:"s"`
	Verifier string `json:"v"` // PKCE code verifier
	Nonce    string `json:"n"`
	Return   string `json:"r"` // same-origin path to go back to
}

// isBase64URL reports whether s uses only the unpadded base64url alphabet.
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}
