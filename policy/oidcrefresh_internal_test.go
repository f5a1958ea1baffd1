package policy

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// A session that would not fit in one cookie sheds the ID token first, then the refresh token (the
// session then ends with its access token); the access token a backend needs stays.
func TestOIDCIssueSessionFitsCookie(t *testing.T) {
	o, err := newOIDC(OIDCConfig{
		Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s", RedirectURI: "https://app.example/cb",
		AuthorizationEndpoint: "https://idp.example/auth", TokenEndpoint: "https://idp.example/token",
		JWKS: JWKS{URL: "https://idp.example/jwks"}, PassAccessToken: true, RefreshSessionTTL: 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	o.now = func() time.Time { return now }
	claims := map[string]any{"sub": "alice"}
	for _, tc := range []struct {
		name                string
		idToken, access, rt int
		wantID, wantRT      bool
		wantTTL             time.Duration
	}{
		{"all fit", 500, 500, 500, true, true, 24 * time.Hour},
		{"id token dropped", 1500, 500, 1000, false, true, 24 * time.Hour},
		{"refresh token dropped", 1500, 1000, 2500, false, false, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := (&oauth2.Token{AccessToken: strings.Repeat("a", tc.access), RefreshToken: strings.Repeat("r", tc.rt), Expiry: now.Add(5 * time.Minute)})
			s, v, ttl, err := o.issueSession(claims, strings.Repeat("i", tc.idToken), tok)
			if err != nil {
				t.Fatal(err)
			}
			if (s.IDToken != "") != tc.wantID || (s.RefreshToken != "") != tc.wantRT || ttl != tc.wantTTL || s.AccessToken != tok.AccessToken {
				t.Fatalf("id token %v, refresh token %v, ttl %s; want %v %v %s", s.IDToken != "", s.RefreshToken != "", ttl, tc.wantID, tc.wantRT, tc.wantTTL)
			}
			if len(o.cookieName)+1+len(v) > maxCookieBytes {
				t.Fatalf("cookie of %d bytes", len(v))
			}
			if tc.wantRT && s.TokenExp != now.Add(5*time.Minute).Unix() {
				t.Fatalf("TokenExp %d", s.TokenExp)
			}
			if want := now.Add(tc.wantTTL).Unix(); s.Exp != want {
				t.Fatalf("Exp %d, want %d", s.Exp, want)
			}
			var back oidcSession
			if err := o.codec.open(o.cookieName, v, &back); err != nil || back.RefreshToken != s.RefreshToken || back.TokenExp != s.TokenExp {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
	// The access token is refreshed shortly before it expires, not after.
	s := &oidcSession{RefreshToken: "r", TokenExp: now.Add(time.Minute).Unix()}
	if o.needsRefresh(s) {
		t.Fatal("refreshed a minute early")
	}
	s.TokenExp = now.Add(oidcRefreshEarly / 2).Unix()
	if !o.needsRefresh(s) {
		t.Fatal("not refreshed just before expiry")
	}
}
