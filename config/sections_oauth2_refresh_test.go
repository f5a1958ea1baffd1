package config_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"
)

// refreshableCookieMaxAgeSeconds is served: a login whose provider issued a refresh token keeps it in
// a session cookie living that long, and an expired access token is refreshed transparently (the
// backend sees the new one). Requests without a session that do not ask for HTML get 401 with
// agentgateway's WWW-Authenticate challenge.
func TestOAuth2RefreshFromYAML(t *testing.T) {
	m, issued, _ := oauth2Provider(t)
	m.AccessTTL = 1 // expires_in 1: due for refresh at once
	yaml := strings.Replace(oauth2YAML, "passAccessToken: $PASS", "passAccessToken: $PASS\n          refreshableCookieMaxAgeSeconds: 600", 1)
	gw := oauth2GatewayYAML(t, m, true, yaml)

	resp := oauth2Nav(t, http.DefaultClient, gw+"/docs", "Accept", "application/json", "Sec-Fetch-Mode", "navigate")
	_ = oauth2Body(t, resp)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no text/html in Accept: no login redirect")
	require.Equal(t, `Bearer realm="`+m.Issuer()+`", scope="openid profile email"`, resp.Header.Get("WWW-Authenticate"))

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	stop := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(browser.CloseIdleConnections)
	t.Cleanup(stop.CloseIdleConnections)
	m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	resp = oauth2Nav(t, browser, gw+"/docs")
	body := oauth2Body(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	before := len(issued())
	resp = oauth2Nav(t, stop, gw+"/docs")
	body = oauth2Body(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	toks := issued()
	require.Len(t, toks, before+1, "the expired access token was refreshed")
	require.Equal(t, fmt.Sprintf("user=alice path=/docs authorization=%q", "Bearer "+toks[len(toks)-1]), body)
	c, err := http.ParseSetCookie(resp.Header.Get("Set-Cookie"))
	require.NoError(t, err)
	require.Equal(t, 600, c.MaxAge, "the refreshable session lives refreshableCookieMaxAgeSeconds")
}
