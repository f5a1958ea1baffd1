package policy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func testCodec(t testing.TB) *cookieCodec {
	c, err := newCookieCodec([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCookieCodec(t *testing.T) {
	c := testCodec(t)
	in := oidcSession{Exp: 42, Claims: map[string]any{"sub": "alice", "groups": []any{"a"}}, IDToken: "x.y.z"}
	v, err := c.seal("s", in)
	if err != nil {
		t.Fatal(err)
	}
	var out oidcSession
	if err := c.open("s", v, &out); err != nil || out.Exp != 42 || out.Claims["sub"] != "alice" || out.IDToken != "x.y.z" {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	// A value sealed for one cookie is refused as another: a login cookie cannot be replayed as a
	// session.
	if err := c.open("s_login_x", v, &out); !errors.Is(err, ErrSessionCookie) {
		t.Fatalf("other cookie name: %v", err)
	}
	// Every single-byte change is detected.
	raw := []byte(v)
	for i := range raw {
		mod := append([]byte{}, raw...)
		mod[i] ^= 0x01
		if err := c.open("s", string(mod), &out); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	// Too large to seal: refused rather than silently dropped by the browser.
	if _, err := c.seal("s", oidcSession{Claims: map[string]any{"big": strings.Repeat("x", 4000)}}); !errors.Is(err, ErrSessionCookie) {
		t.Fatalf("oversized session: %v", err)
	}
}

// An expired session cookie is refused: navigation goes back to the provider, scripts get 401.
func TestOIDCExpiredSession(t *testing.T) {
	o, err := newOIDC(OIDCConfig{
		Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s", RedirectURI: "https://app.example/cb",
		AuthorizationEndpoint: "https://idp.example/auth", TokenEndpoint: "https://idp.example/token",
		JWKS: JWKS{URL: "https://idp.example/jwks"}, SessionTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	o.now = func() time.Time { return now }
	v, err := o.codec.seal(o.cookieName, oidcSession{Exp: now.Add(time.Hour).Unix(), Claims: map[string]any{"sub": "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	h := o.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	serve := func(mode string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "https://app.example/page", nil)
		r.Header.Set("Sec-Fetch-Mode", mode)
		r.AddCookie(&http.Cookie{Name: o.cookieName, Value: v})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := serve("navigate"); w.Code != http.StatusOK {
		t.Fatalf("fresh session: %d", w.Code)
	}
	now = now.Add(time.Hour)
	if w := serve("cors"); w.Code != http.StatusUnauthorized {
		t.Fatalf("expired session, script: %d", w.Code)
	}
	w := serve("navigate")
	if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), "https://idp.example/auth?") {
		t.Fatalf("expired session, navigation: %d %q", w.Code, w.Header().Get("Location"))
	}
	// An https redirect URI makes the cookies Secure.
	if c := w.Header().Get("Set-Cookie"); !strings.Contains(c, "; Secure") || !strings.Contains(c, "Path=/cb") {
		t.Fatalf("login cookie %q", c)
	}
}

func TestSafeReturnPath(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?c=d":                      "/a/b?c=d",
		"/":                             "/",
		"":                              "/",
		"//evil.example":                "/",
		"///evil.example":               "/",
		`/\evil.example`:                "/",
		`/a\b`:                          "/",
		"https://evil.example/":         "/",
		"evil.example":                  "/",
		"/\t/evil.example":              "/",
		"/a\r\nSet-Cookie: x":           "/",
		"/" + strings.Repeat("a", 3000): "/",
	} {
		if got := safeReturnPath(in); got != want {
			t.Errorf("safeReturnPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzOIDCCookie: whatever arrives as a session or login cookie, opening it never panics, and only
// values this codec sealed for that name are accepted.
func FuzzOIDCCookie(f *testing.F) {
	c := testCodec(f)
	// Sealed once under testCodec's key (fixed here: every fuzz worker must agree on it).
	const good = "lKaIb3QXp5KDq2kuyXIeAVJrHA055Myt3kL5I3bDEIhlVGNlqbkD5Vp_FNYvh0pc5HFp"
	if err := c.open("s", good, &oidcSession{}); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, good[:len(good)-1], good + "A", "", "A", "!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("A", 5000), "e30", good[:16]} {
		f.Add("s", s)
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		var s oidcSession
		err := c.open(name, value, &s)
		if err == nil && (name != "s" || value != good) {
			t.Fatalf("accepted a value it did not seal: %q=%q", name, value)
		}
		var l oidcLogin
		_ = c.open(name, value, &l)
	})
}

// BenchmarkOIDCSession measures what a logged-in request costs: opening the session cookie
// (AES-GCM, JSON) and filling State.Identity.
func BenchmarkOIDCSession(b *testing.B) {
	o, err := newOIDC(OIDCConfig{
		Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s", RedirectURI: "https://app.example/cb",
		AuthorizationEndpoint: "https://idp.example/auth", TokenEndpoint: "https://idp.example/token",
		JWKS: JWKS{URL: "https://idp.example/jwks"},
	})
	if err != nil {
		b.Fatal(err)
	}
	claims := map[string]any{"iss": "https://idp.example", "sub": "alice", "aud": "c", "email": "alice@example.com",
		"exp": 2e9, "iat": 1e9, "groups": []any{"eng", "ops"}, "name": "Alice Example"}
	v, err := o.codec.seal(o.cookieName, oidcSession{Exp: 2e9, Claims: claims, IDToken: strings.Repeat("x", 800)})
	if err != nil {
		b.Fatal(err)
	}
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"direct", next}, {"oidc", o.Wrap(next)}} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "https://app.example/page", nil)
			r.AddCookie(&http.Cookie{Name: o.cookieName, Value: v})
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r.Header.Set("Cookie", o.cookieName+"="+v)
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}
