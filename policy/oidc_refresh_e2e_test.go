package policy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/policy"
)

// rotatingProvider is mockoidc behind a token endpoint that rotates refresh tokens, as many providers
// do: every refresh_token grant is answered with a new refresh token, and a refresh token is good
// once. It records every access token issued and the refresh token each grant presented.
type rotatingProvider struct {
	*mockoidc.MockOIDC
	mu        sync.Mutex
	real      map[string]string // rotated token -> mockoidc's own refresh token
	used      map[string]bool
	n         int
	issued    []string // access tokens, in order
	presented []string // refresh tokens presented, in order
	latest    string   // the last refresh token handed out
	refused   int      // refresh grants refused
	fail      bool     // refuse every refresh grant (invalid_grant)
}

func startRotatingProvider(t *testing.T) *rotatingProvider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	require.NoError(t, err)
	p := &rotatingProvider{MockOIDC: m, real: map[string]string{}, used: map[string]bool{}}
	require.NoError(t, m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/oidc/token" {
				next.ServeHTTP(w, r)
				return
			}
			require.NoError(t, r.ParseForm())
			refresh := r.Form.Get("grant_type") == "refresh_token"
			if refresh {
				p.mu.Lock()
				rt := r.Form.Get("refresh_token")
				p.presented = append(p.presented, rt)
				orig, known := p.real[rt]
				if p.fail || !known || p.used[rt] {
					p.refused++
					p.mu.Unlock()
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
					return
				}
				p.used[rt] = true
				p.mu.Unlock()
				r.Form.Set("refresh_token", orig)
				r.PostForm.Set("refresh_token", orig)
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var tok map[string]any
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK && json.Unmarshal(body, &tok) == nil {
				p.mu.Lock()
				p.issued = append(p.issued, fmt.Sprint(tok["access_token"]))
				if orig, ok := tok["refresh_token"].(string); ok {
					p.n++
					rot := fmt.Sprintf("rotated-%d", p.n)
					p.real[rot], p.latest = orig, rot
					tok["refresh_token"] = rot
				}
				p.mu.Unlock()
				body, _ = json.Marshal(tok)
			}
			for k, v := range rec.Header() {
				if k != "Content-Length" {
					w.Header()[k] = v
				}
			}
			w.WriteHeader(rec.Code)
			_, _ = io.Copy(w, bytes.NewReader(body))
		})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, m.Start(ln, nil))
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

// snapshot returns the access tokens issued, the refresh tokens presented, the last refresh token
// handed out and the number of refused grants.
func (p *rotatingProvider) snapshot() (issued, presented []string, latest string, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...), append([]string(nil), p.presented...), p.latest, p.refused
}

// refreshConfig is agentgateway's oauth2 as config/sections_oauth2.go shapes it.
func refreshConfig(c *policy.OIDCConfig) {
	c.PassAccessToken = true
	c.UnauthorizedUnlessHTML = true
	c.RefreshSessionTTL = time.Hour
}

// sessionCookie returns the Cookie header of the browser's session at gw.
func sessionCookie(t *testing.T, b *browser, gw string) string {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, gw+"/", nil)
	require.NoError(t, err)
	for _, c := range b.Jar.Cookies(r.URL) {
		if strings.HasPrefix(c.Name, "agw_oidc_") && !strings.Contains(c.Name, "_login_") {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// rawGet sends a navigation carrying exactly the given Cookie header, without following redirects.
func rawGet(t *testing.T, u, cookie string, hdr ...string) (*http.Response, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	r.Header.Set("Accept", "text/html")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer c.CloseIdleConnections()
	resp, err := c.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// A session whose access token has expired is refreshed transparently: the backend sees the new
// access token, ten concurrent requests carrying the same expired session cost the provider one
// refresh_token grant, and the rotated refresh token is the one presented next time.
func TestOIDCRefreshExpiredSession(t *testing.T) {
	p := startRotatingProvider(t)
	// expires_in 1: every access token is within the early-refresh margin as soon as it is issued,
	// so each new session cookie is refreshed by the next request, without waiting.
	p.AccessTTL = 1
	gw := authGateway(t, p.MockOIDC, refreshConfig)
	p.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	b := newBrowser(t)
	status, body := b.get(t, gw+"/app")
	require.Equal(t, http.StatusOK, status, body)
	issued, presented, _, refused := p.snapshot()
	require.Zero(t, refused)
	require.Equal(t, fmt.Sprintf("path=/app authorization=%q", "Bearer "+issued[len(issued)-1]), body,
		"the backend sees the newest access token")

	cookie := sessionCookie(t, b, gw)
	before := len(presented)
	var wg sync.WaitGroup
	bodies := make([]string, 10)
	setCookies := make([]string, 10)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := rawGet(t, gw+"/app", cookie)
			bodies[i] = fmt.Sprint(resp.StatusCode, " ", body)
			setCookies[i] = resp.Header.Get("Set-Cookie")
		}()
	}
	wg.Wait()
	issued, presented, latest, refused := p.snapshot()
	require.Zero(t, refused)
	require.Len(t, presented, before+1, "one refresh_token grant for ten concurrent requests")
	want := fmt.Sprintf("200 path=/app authorization=%q", "Bearer "+issued[len(issued)-1])
	for i := range bodies {
		require.Equal(t, want, bodies[i])
		require.Equal(t, setCookies[0], setCookies[i], "every request gets the refreshed session")
	}
	require.NotEmpty(t, setCookies[0])

	// The refreshed session carries the rotated refresh token: the next refresh presents it, and the
	// provider (which refuses a second use of any refresh token) accepts it, again and again.
	next, err := http.ParseSetCookie(setCookies[0])
	require.NoError(t, err)
	cookie = next.Name + "=" + next.Value
	for range 3 {
		resp, body := rawGet(t, gw+"/app", cookie)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		_, got, newest, refused := p.snapshot()
		require.Zero(t, refused)
		require.Equal(t, latest, got[len(got)-1], "the last rotated refresh token is presented")
		latest = newest
		c, err := http.ParseSetCookie(resp.Header.Get("Set-Cookie"))
		require.NoError(t, err)
		require.Equal(t, 3600, c.MaxAge, "a refreshable session lives RefreshSessionTTL")
		cookie = c.Name + "=" + c.Value
	}
}

// When the refresh fails the session is dropped: a browser navigation is sent to log in again, an
// API request gets 401 with WWW-Authenticate.
func TestOIDCRefreshFailure(t *testing.T) {
	p := startRotatingProvider(t)
	p.AccessTTL = 1
	gw := authGateway(t, p.MockOIDC, refreshConfig)
	p.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	b := newBrowser(t)
	status, body := b.get(t, gw+"/app")
	require.Equal(t, http.StatusOK, status, body)
	cookie := sessionCookie(t, b, gw)
	p.mu.Lock()
	p.fail = true
	p.mu.Unlock()

	resp, _ := rawGet(t, gw+"/app", cookie)
	require.Equal(t, http.StatusFound, resp.StatusCode, "browser: back to the provider")
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), p.AuthorizationEndpoint()), resp.Header.Get("Location"))
	cleared, name := false, strings.SplitN(cookie, "=", 2)[0]
	for _, line := range resp.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		require.NoError(t, err)
		cleared = cleared || (c.Name == name && c.MaxAge < 0)
	}
	require.True(t, cleared, "the session cookie is cleared: %q", resp.Header.Values("Set-Cookie"))

	// A second session (the first one's refresh is remembered for a while) fails the same way for an
	// API client.
	p.mu.Lock()
	p.fail = false
	p.mu.Unlock()
	p.QueueUser(&mockoidc.MockUser{Subject: "bob"})
	b2 := newBrowser(t)
	status, body = b2.get(t, gw+"/app")
	require.Equal(t, http.StatusOK, status, body)
	cookie = sessionCookie(t, b2, gw)
	p.mu.Lock()
	p.fail = true
	p.mu.Unlock()
	resp, body = rawGet(t, gw+"/api/items", cookie, "Accept", "application/json", "Sec-Fetch-Mode", "cors")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	require.Equal(t, `Bearer realm="`+p.Issuer()+`", scope="openid"`, resp.Header.Get("WWW-Authenticate"))
}

// Without RefreshSessionTTL (the oidc policy's default) the refresh token is not kept and nothing is
// refreshed: the session ends with its access token, as before.
func TestOIDCNoRefreshByDefault(t *testing.T) {
	p := startRotatingProvider(t)
	p.AccessTTL = 1
	gw := authGateway(t, p.MockOIDC, func(c *policy.OIDCConfig) { c.PassAccessToken = true })
	p.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	b := newBrowser(t)
	status, body := b.get(t, gw+"/app")
	require.Equal(t, http.StatusOK, status, body)
	resp, _ := rawGet(t, gw+"/app", sessionCookie(t, b, gw))
	require.Equal(t, http.StatusOK, resp.StatusCode, "the 1s session is still valid")
	_, presented, _, _ := p.snapshot()
	require.Empty(t, presented, "no refresh_token grant")
}

// With UnauthorizedUnlessHTML (agentgateway's oauth2) every request without a session whose Accept
// lacks text/html gets 401 and a WWW-Authenticate challenge naming the issuer and scopes; only
// requests for HTML are sent to the provider. Without it (oidc), a fetch/XHR check decides and no
// challenge is sent.
func TestOIDCUnauthorizedUnlessHTML(t *testing.T) {
	m := startOIDC(t)
	oauth2 := authGateway(t, m, func(c *policy.OIDCConfig) {
		refreshConfig(c)
		c.Scopes = []string{"profile", "email"}
	})
	oidc := authGateway(t, m, nil)
	for _, tc := range []struct {
		gw        string
		hdr       []string
		want      int
		challenge bool
	}{
		{oauth2, []string{"Accept", "application/json"}, http.StatusUnauthorized, true},
		{oauth2, []string{"Accept", "*/*"}, http.StatusUnauthorized, true},               // curl
		{oauth2, []string{"Accept", ""}, http.StatusUnauthorized, true},                  // no Accept
		{oauth2, []string{"Accept", "text/html;q=0.9"}, http.StatusFound, false},         // a browser
		{oidc, []string{"Accept", "*/*", "Sec-Fetch-Mode", ""}, http.StatusFound, false}, // navigation as far as oidc knows
		{oidc, []string{"Accept", "application/json"}, http.StatusUnauthorized, false},
	} {
		resp, body := rawGet(t, tc.gw+"/x", "", tc.hdr...)
		require.Equal(t, tc.want, resp.StatusCode, "%v %s", tc.hdr, body)
		if tc.challenge {
			require.Equal(t, `Bearer realm="`+m.Issuer()+`", scope="openid profile email"`, resp.Header.Get("WWW-Authenticate"), tc.hdr)
		} else {
			require.Empty(t, resp.Header.Get("WWW-Authenticate"), tc.hdr)
		}
	}
}
