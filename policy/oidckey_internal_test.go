package policy

import (
	"bytes"
	"errors"
	"testing"
)

func keyTestOIDC(t *testing.T, edit func(*OIDCConfig)) *oidcAuth {
	t.Helper()
	cfg := OIDCConfig{
		Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s", RedirectURI: "https://app.example/cb",
		AuthorizationEndpoint: "https://idp.example/auth", TokenEndpoint: "https://idp.example/token",
		JWKS: JWKS{URL: "https://idp.example/jwks"}, CookieName: "sess",
	}
	if edit != nil {
		edit(&cfg)
	}
	o, err := newOIDC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// keyOpens reports whether a session sealed by from is accepted by to.
func keyOpens(t *testing.T, from, to *oidcAuth) bool {
	t.Helper()
	v, err := from.codec.seal("sess", oidcSession{Exp: 1, Claims: map[string]any{"sub": "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	var s oidcSession
	err = to.codec.open("sess", v, &s)
	if err != nil && !errors.Is(err, ErrSessionCookie) {
		t.Fatalf("error does not wrap ErrSessionCookie: %v", err)
	}
	return err == nil
}

// Two policies built alike (two replicas, or one process before and after a restart) open each
// other's sessions; the key material and the policy's identity both decide the key, and an explicit
// CookieKey is used as is.
func TestOIDCCookieKeyDerivation(t *testing.T) {
	base := keyTestOIDC(t, nil)
	if !keyOpens(t, base, keyTestOIDC(t, nil)) {
		t.Fatal("same client secret: refused")
	}
	if !keyOpens(t, base, keyTestOIDC(t, func(c *OIDCConfig) { c.RedirectURI = "https://other.example/cb" })) {
		t.Fatal("replicas behind other host names share sessions: refused")
	}
	for name, edit := range map[string]func(*OIDCConfig){
		"client secret":  func(c *OIDCConfig) { c.ClientSecret = "t" },
		"client id":      func(c *OIDCConfig) { c.ClientID = "d" },
		"issuer":         func(c *OIDCConfig) { c.Issuer = "https://idp2.example" },
		"session secret": func(c *OIDCConfig) { c.SessionSecret = []byte("k") },
		"cookie key":     func(c *OIDCConfig) { c.CookieKey = make([]byte, 32) },
	} {
		if keyOpens(t, base, keyTestOIDC(t, edit)) {
			t.Errorf("another %s: accepted", name)
		}
	}
	// SessionSecret replaces the client secret, so rotating the latter keeps sessions.
	withKey := keyTestOIDC(t, func(c *OIDCConfig) { c.SessionSecret = []byte("k") })
	if !keyOpens(t, withKey, keyTestOIDC(t, func(c *OIDCConfig) { c.SessionSecret = []byte("k"); c.ClientSecret = "rotated" })) {
		t.Fatal("same session secret, rotated client secret: refused")
	}
	// CookieKey wins over both.
	key := bytes.Repeat([]byte{7}, 32)
	explicit := keyTestOIDC(t, func(c *OIDCConfig) { c.CookieKey = key; c.SessionSecret = []byte("k") })
	plain, err := newCookieCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	if !keyOpens(t, explicit, &oidcAuth{codec: plain}) {
		t.Fatal("CookieKey not used as is")
	}
}

// The identity is length-prefixed: moving bytes between issuer and client id changes the key.
func TestDeriveCookieKeyUnambiguous(t *testing.T) {
	a, err := deriveCookieKey([]byte("s"), "https://idp.example/a", "bc")
	if err != nil {
		t.Fatal(err)
	}
	b, err := deriveCookieKey([]byte("s"), "https://idp.example/ab", "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("keys %x and %x", a, b)
	}
}
