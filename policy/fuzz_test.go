package policy_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// FuzzAuthorizationHeader: whatever arrives in Authorization, the JWT, API key and Basic policies
// answer 200 or 401 (with a challenge), never anything else and never a panic.
func FuzzAuthorizationHeader(f *testing.F) {
	for _, s := range []string{"Bearer a.b.c", "Bearer", "bearer  x", "Basic YTpi", "Basic", "Basic !!", "Bearer eyJhbGciOiJub25lIn0.e30.", "\x00", "Bearer " + strings.Repeat("a.", 100)} {
		f.Add(s)
	}
	keys(f)
	jwt := newJWT(f, policy.ModeStrict, rsaKey)
	apiKey, err := policy.NewAPIKey(policy.APIKeyConfig{Mode: policy.ModeStrict, Keys: []policy.APIKey{{Key: "k"}}})
	require.NoError(f, err)
	basicAuth, err := policy.NewBasicAuth(policy.BasicAuthConfig{Mode: policy.ModeStrict, Htpasswd: []byte("a:{SHA}hvfkN/qlp/zhXR3cuerq6jd2Z7g=")})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, hdr string) {
		for _, p := range []agentgateway.Policy{jwt, apiKey, basicAuth} {
			r := req("GET", "/")
			r.Header["Authorization"] = []string{hdr}
			w := do(p, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), r)
			if w.Code != 200 && w.Code != 401 {
				t.Fatalf("status %d for %q", w.Code, hdr)
			}
			if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("401 without a challenge for %q", hdr)
			}
		}
	})
}

// FuzzParseBasic: decoding never panics, and what it accepts round-trips.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{"YTpi", "", "Og==", "YWxpY2U=", "!!", base64.StdEncoding.EncodeToString([]byte("u:p:q"))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cred string) {
		u, p, ok := policy.ParseBasic(cred)
		if ok {
			require.NotEmpty(t, u)
			require.NotContains(t, u, ":")
			require.Equal(t, base64.StdEncoding.EncodeToString([]byte(u+":"+p)), cred)
		}
	})
}

// FuzzStripPrefix: the credential is a suffix of the header value, and "" unless the prefix matches.
func FuzzStripPrefix(f *testing.F) {
	f.Add("Bearer abc", "Bearer ")
	f.Add("bearer abc", "Bearer ")
	f.Add("Bear", "Bearer ")
	f.Add(" x ", "")
	f.Fuzz(func(t *testing.T, v, prefix string) {
		got := policy.StripPrefix(v, prefix)
		require.True(t, strings.Contains(v, got))
		if got != "" && prefix != "" {
			require.True(t, strings.EqualFold(v[:len(prefix)], prefix))
		}
	})
}

// FuzzParseHtpasswd: the parser never panics; accepted files give non-empty users with supported
// hashes.
func FuzzParseHtpasswd(f *testing.F) {
	f.Add("alice:$2y$05$abcdefghijklmnopqrstuuKq1m2pD0HV3G5S0kHq/6l2FY7bkC8vG\n")
	f.Add("# comment\n\nbob:{SHA}hvfkN/qlp/zhXR3cuerq6jd2Z7g=\n")
	f.Add("bad line\n")
	f.Add("a:b:c\na:{SHA}x\n")
	f.Add("admin:$apr1$Q/5qL8KZ$DorMmx9TtdjqnOWadqFg0.\nx:$apr1$$\ny:$apr1$123456789$DorMmx9TtdjqnOWadqFg0.\n")
	f.Fuzz(func(t *testing.T, data string) {
		users, err := policy.ParseHtpasswd([]byte(data))
		if err != nil {
			require.ErrorIs(t, err, policy.ErrHtpasswd)
			return
		}
		for u, h := range users {
			require.NotEmpty(t, u)
			require.True(t, strings.HasPrefix(h, "$2") || strings.HasPrefix(h, "{SHA}") || strings.HasPrefix(h, "$apr1$"), h)
		}
	})
}

// FuzzAPIKeyLocation: keys read from the query, a cookie or a header never crash the policy.
func FuzzAPIKeyLocation(f *testing.F) {
	f.Add("key=k", "key=k; other=1", "k")
	f.Add("key=%zz", "key", "")
	f.Add("", "=;=;", "\x7f")
	locs := []*policy.Location{
		{QueryParameter: "key"},
		{Cookie: "key"},
		{Header: "x-api-key"},
	}
	var pols []agentgateway.Policy
	for _, l := range locs {
		p, err := policy.NewAPIKey(policy.APIKeyConfig{Keys: []policy.APIKey{{Key: "k"}}, Location: l})
		require.NoError(f, err)
		pols = append(pols, p)
	}
	f.Fuzz(func(t *testing.T, query, cookie, hdr string) {
		r := req("GET", "/")
		r.URL.RawQuery = query
		r.Header["Cookie"] = []string{cookie}
		r.Header["X-Api-Key"] = []string{hdr}
		for _, p := range pols {
			w := do(p, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), r.Clone(r.Context()))
			if w.Code != 200 && w.Code != 401 {
				t.Fatalf("status %d", w.Code)
			}
		}
	})
}
