package agentgateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// echo reports what reached the backend.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "1")
		w.Header().Set("X-Remove-Me", "1")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "query": r.URL.RawQuery, "host": r.Host, "headers": r.Header})
	})
}

type echoed struct {
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
}

func decode(t *testing.T, b []byte) echoed {
	var e echoed
	require.NoError(t, json.Unmarshal(b, &e), string(b))
	return e
}

func TestHeaderModifiers(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Route("h").PathPrefix("/").
		RequestHeaders(agentgateway.HeaderModifier{
			Set: map[string]string{"x-set": "new"}, Add: map[string]string{"X-Add": "two"}, Remove: []string{"X-Drop"},
		}).
		ResponseHeaders(agentgateway.HeaderModifier{Set: map[string]string{"X-Resp": "yes"}, Remove: []string{"X-Remove-Me"}}).
		To(echo()))
	w := serve(t, gw, "GET", "/", "X-Set", "old", "X-Add", "one", "X-Drop", "gone")
	e := decode(t, w.Body.Bytes())
	require.Equal(t, []string{"new"}, e.Headers["X-Set"])
	require.Equal(t, []string{"one", "two"}, e.Headers["X-Add"])
	require.NotContains(t, e.Headers, "X-Drop")
	require.Equal(t, "yes", w.Header().Get("X-Resp"))
	require.Equal(t, "1", w.Header().Get("X-Upstream"))
	require.Empty(t, w.Header().Get("X-Remove-Me"))

	_, err := agentgateway.RequestHeaderModifier(agentgateway.HeaderModifier{Set: map[string]string{"bad name": "x"}})
	require.Error(t, err)
}

func TestURLRewrite(t *testing.T) {
	str := func(s string) *string { return &s }
	cases := []struct {
		name     string
		prefix   string
		exact    bool
		rewrite  agentgateway.URLRewrite
		request  string
		wantPath string
		wantHost string
	}{
		{"prefix to prefix", "/prefix/one", false, agentgateway.URLRewrite{Path: &agentgateway.PathModifier{ReplacePrefixMatch: str("/one")}}, "/prefix/one/two?a=b", "/one/two", "example.com"},
		{"strip prefix", "/strip", false, agentgateway.URLRewrite{Path: &agentgateway.PathModifier{ReplacePrefixMatch: str("/")}}, "/strip/three", "/three", "example.com"},
		{"strip to root", "/strip", false, agentgateway.URLRewrite{Path: &agentgateway.PathModifier{ReplacePrefixMatch: str("/")}}, "/strip", "/", "example.com"},
		{"prefix with trailing slash", "/api/", false, agentgateway.URLRewrite{Path: &agentgateway.PathModifier{ReplacePrefixMatch: str("/v2/")}}, "/api/users", "/v2/users", "example.com"},
		{"full path", "/full", false, agentgateway.URLRewrite{Path: &agentgateway.PathModifier{ReplaceFullPath: str("/replaced")}}, "/full/x/y", "/replaced", "example.com"},
		{"hostname", "/h", false, agentgateway.URLRewrite{Hostname: "internal.svc"}, "/h/x", "/h/x", "internal.svc"},
		{"prefix on exact match replaces path", "/exact", true, agentgateway.URLRewrite{Path: &agentgateway.PathModifier{ReplacePrefixMatch: str("/new")}}, "/exact", "/new", "example.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gw := agentgateway.New(quiet())
			rb := gw.Route("r")
			if c.exact {
				rb.Path(c.prefix)
			} else {
				rb.PathPrefix(c.prefix)
			}
			require.NoError(t, rb.Rewrite(c.rewrite).To(echo()))
			w := serve(t, gw, "GET", "http://example.com"+c.request)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			e := decode(t, w.Body.Bytes())
			require.Equal(t, c.wantPath, e.Path)
			require.Equal(t, c.wantHost, e.Host)
		})
	}
	_, err := agentgateway.Rewrite(agentgateway.URLRewrite{Path: &agentgateway.PathModifier{ReplaceFullPath: str("no-slash")}})
	require.Error(t, err)
	_, err = agentgateway.Rewrite(agentgateway.URLRewrite{})
	require.Error(t, err)
}

func TestRedirect(t *testing.T) {
	str := func(s string) *string { return &s }
	cases := []struct {
		name    string
		prefix  string
		rr      agentgateway.RequestRedirect
		request string
		status  int
		want    string
	}{
		{"scheme drops well-known port", "/", agentgateway.RequestRedirect{Scheme: "https"}, "http://example.com:80/a?x=1", 302, "https://example.com/a?x=1"},
		{"scheme change drops listener port", "/", agentgateway.RequestRedirect{Scheme: "https"}, "http://example.com:8080/a", 302, "https://example.com/a"},
		{"hostname keeps port", "/", agentgateway.RequestRedirect{Hostname: "other.org"}, "http://example.com:8080/a", 302, "http://other.org:8080/a"},
		{"port", "/", agentgateway.RequestRedirect{Port: 9090}, "http://example.com/a", 302, "http://example.com:9090/a"},
		{"status 301 and full path", "/", agentgateway.RequestRedirect{StatusCode: 301, Path: &agentgateway.PathModifier{ReplaceFullPath: str("/new")}}, "http://example.com/old", 301, "http://example.com/new"},
		{"prefix", "/old", agentgateway.RequestRedirect{Path: &agentgateway.PathModifier{ReplacePrefixMatch: str("/new")}}, "http://example.com/old/page", 302, "http://example.com/new/page"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gw := agentgateway.New(quiet())
			require.NoError(t, gw.Route("r").PathPrefix(c.prefix).Redirect(c.rr).To(nil))
			w := serve(t, gw, "GET", c.request)
			require.Equal(t, c.status, w.Code)
			require.Equal(t, c.want, w.Header().Get("Location"))
		})
	}
	_, err := agentgateway.Redirect(agentgateway.RequestRedirect{StatusCode: 200})
	require.Error(t, err)
	_, err = agentgateway.Redirect(agentgateway.RequestRedirect{Scheme: "ftp"})
	require.Error(t, err)
}

func TestDirectResponse(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Route("d").PathPrefix("/").Respond(418, "short and stout").To(nil))
	w := serve(t, gw, "GET", "/")
	require.Equal(t, 418, w.Code)
	require.Equal(t, "short and stout", w.Body.String())
	require.Equal(t, "15", w.Header().Get("Content-Length"))
	_, err := agentgateway.Respond(agentgateway.DirectResponse{Status: 42})
	require.Error(t, err)
}

// Policies run by phase whatever order they are added in; within a phase, in the order added. This is
// what keeps Use(authz, jwt) from evaluating rules before the token is checked.
func TestPoliciesRunInPhaseOrder(t *testing.T) {
	var order []string
	mark := func(name string, phase agentgateway.Phase) agentgateway.Policy {
		return agentgateway.NewPolicy(phase, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		})
	}
	plain := agentgateway.PolicyFunc(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			order = append(order, "custom")
			next.ServeHTTP(w, r)
		})
	})
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Route("p").PathPrefix("/").
		Use(mark("authz", agentgateway.PhaseAuthz), plain, mark("jwt", agentgateway.PhaseAuthn)).
		Use(mark("cors", agentgateway.PhaseCORS), mark("authz2", agentgateway.PhaseAuthz)).
		Use(agentgateway.At(agentgateway.PhaseBackend, mark("moved", agentgateway.PhaseCORS))).
		To(named("x")))
	serve(t, gw, "GET", "/")
	require.Equal(t, []string{"cors", "jwt", "authz", "authz2", "custom", "moved"}, order)
	require.Equal(t, []agentgateway.Phase{agentgateway.PhaseAuthn, agentgateway.PhaseCustom},
		[]agentgateway.Phase{agentgateway.PhaseOf(mark("j", agentgateway.PhaseAuthn)), agentgateway.PhaseOf(plain)})
}

func TestPolicyFromFallibleConstructor(t *testing.T) {
	gw := agentgateway.New(quiet())
	good := func() (agentgateway.Policy, error) {
		return agentgateway.ResponseHeaderModifier(agentgateway.HeaderModifier{Set: map[string]string{"X-A": "1"}})
	}
	require.NoError(t, gw.Route("ok").PathPrefix("/").Policy(good()).To(named("x")))
	require.Equal(t, "1", serve(t, gw, "GET", "/").Header().Get("X-A"))

	bad := func() (agentgateway.Policy, error) {
		return agentgateway.Redirect(agentgateway.RequestRedirect{StatusCode: 200})
	}
	err := gw.Route("bad").PathPrefix("/b").Policy(bad()).To(named("x"))
	require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	require.Contains(t, err.Error(), `route "bad": requestRedirect: status 200`)
	require.Equal(t, "x", body(serve(t, gw, "GET", "/b")), "the bad route was not added")
}
