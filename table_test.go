package agentgateway_test

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// named answers with its name, so a test can see which route served a request.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := agentgateway.StateFrom(r.Context())
		w.Header().Set("X-Route", st.Route)
		w.Header().Set("X-Matched-Prefix", st.MatchedPrefix)
		_, _ = io.WriteString(w, name)
	})
}

func seed(n uint64) rand.Source { return rand.NewPCG(n, n) }

func quiet() agentgateway.Option { return agentgateway.WithLogger(slog.New(slog.DiscardHandler)) }

func serve(t testing.TB, gw http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
			continue
		}
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, r)
	return w
}

func body(w *httptest.ResponseRecorder) string { return w.Body.String() }

func TestMatchTypes(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Route("exact").Path("/exact").To(named("exact")))
	require.NoError(t, gw.Route("prefix").PathPrefix("/api").To(named("prefix")))
	require.NoError(t, gw.Route("regex").PathRegex(`/users/[0-9]+`).To(named("regex")))
	require.NoError(t, gw.Route("method").PathPrefix("/m").Method("POST").To(named("method")))
	require.NoError(t, gw.Route("header").PathPrefix("/h").Header("X-Env", "prod").To(named("header")))
	require.NoError(t, gw.Route("header-re").PathPrefix("/h").HeaderRegex("X-Env", "stag.*").To(named("header-re")))
	require.NoError(t, gw.Route("query").PathPrefix("/q").Query("v", "2").To(named("query")))
	require.NoError(t, gw.Route("query-re").PathPrefix("/q").QueryRegex("v", "[3-4]").To(named("query-re")))
	require.NoError(t, gw.Route("host").Host("api.example.com").PathPrefix("/").To(named("host")))
	require.NoError(t, gw.Route("wild").Host("*.example.com").PathPrefix("/").To(named("wild")))

	cases := []struct {
		method, target string
		hdr            []string
		want           string // "" means 404
	}{
		{"GET", "/exact", nil, "exact"},
		{"GET", "/exact/more", nil, ""},
		{"GET", "/api", nil, "prefix"},
		{"GET", "/api/", nil, "prefix"},
		{"GET", "/api/v1/x", nil, "prefix"},
		{"GET", "/apix", nil, ""}, // prefixes match whole segments
		{"GET", "/users/42", nil, "regex"},
		{"GET", "/users/42/x", nil, ""}, // regexes match the whole path
		{"POST", "/m", nil, "method"},
		{"GET", "/m", nil, ""},
		{"GET", "/h", []string{"X-Env", "prod"}, "header"},
		{"GET", "/h", []string{"X-Env", "staging"}, "header-re"},
		{"GET", "/h", []string{"X-Env", "dev"}, ""},
		{"GET", "/q?v=2", nil, "query"},
		{"GET", "/q?a=1&v=4", nil, "query-re"},
		{"GET", "/q?v=%32", nil, "query"}, // escaped values are compared unescaped
		{"GET", "/q?v=5", nil, ""},
		{"GET", "/anything", []string{"Host", "api.example.com"}, "host"},
		{"GET", "/anything", []string{"Host", "API.example.com:8080"}, "host"},
		{"GET", "/anything", []string{"Host", "a.b.example.com"}, "wild"},
		{"GET", "/anything", []string{"Host", "example.com"}, ""},
	}
	for _, c := range cases {
		t.Run(c.method+c.target+fmt.Sprint(c.hdr), func(t *testing.T) {
			w := serve(t, gw, c.method, c.target, c.hdr...)
			if c.want == "" {
				require.Equal(t, http.StatusNotFound, w.Code, body(w))
				require.JSONEq(t, `{"error":{"code":404,"message":"no route matched"}}`, body(w))
				return
			}
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, c.want, body(w))
		})
	}
}

func TestPrecedence(t *testing.T) {
	gw := agentgateway.New(quiet())
	// Defined from least to most specific: precedence, not order, must decide.
	require.NoError(t, gw.Route("root").PathPrefix("/").To(named("root")))
	require.NoError(t, gw.Route("short").PathPrefix("/a").To(named("short")))
	require.NoError(t, gw.Route("long").PathPrefix("/a/b").To(named("long")))
	require.NoError(t, gw.Route("exact").Path("/a/b").To(named("exact")))
	require.NoError(t, gw.Route("get").PathPrefix("/a/b").Method("GET").To(named("get")))
	require.NoError(t, gw.Route("one-header").PathPrefix("/c").Header("X-A", "1").To(named("one-header")))
	require.NoError(t, gw.Route("two-headers").PathPrefix("/c").Header("X-A", "1").Header("X-B", "1").To(named("two-headers")))
	require.NoError(t, gw.Route("one-query").PathPrefix("/d").Query("a", "1").To(named("one-query")))
	require.NoError(t, gw.Route("two-query").PathPrefix("/d").Query("a", "1").Query("b", "1").To(named("two-query")))
	require.NoError(t, gw.Route("first").PathPrefix("/e").To(named("first")))
	require.NoError(t, gw.Route("second").PathPrefix("/e").To(named("second")))

	cases := map[string]struct {
		method, target string
		hdr            []string
		want           string
	}{
		"exact beats prefix":            {"GET", "/a/b", nil, "exact"},
		"method beats longest prefix":   {"GET", "/a/b/c", nil, "get"},
		"longest prefix":                {"POST", "/a/b/c", nil, "long"},
		"shorter prefix":                {"GET", "/a/x", nil, "short"},
		"fallback to root":              {"GET", "/zzz", nil, "root"},
		"more headers win":              {"GET", "/c", []string{"X-A", "1", "X-B", "1"}, "two-headers"},
		"fewer headers when only some":  {"GET", "/c", []string{"X-A", "1"}, "one-header"},
		"more query params win":         {"GET", "/d?a=1&b=1", nil, "two-query"},
		"definition order breaks ties":  {"GET", "/e", nil, "first"},
		"a failed condition falls back": {"GET", "/c", []string{"X-B", "1"}, "root"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, c.want, body(serve(t, gw, c.method, c.target, c.hdr...)))
		})
	}
}

func TestHostRoutesBeforeGeneralRoutes(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Route("general").PathPrefix("/").To(named("general")))
	require.NoError(t, gw.Route("api").Host("api.example.com").PathPrefix("/v1").To(named("api")))
	require.NoError(t, gw.Route("wild").Host("*.example.com").PathPrefix("/w").To(named("wild")))
	require.Equal(t, "api", body(serve(t, gw, "GET", "/v1/x", "Host", "api.example.com")))
	require.Equal(t, "wild", body(serve(t, gw, "GET", "/w", "Host", "api.example.com")), "an exact host sees the wildcard routes covering it")
	require.Equal(t, "general", body(serve(t, gw, "GET", "/other", "Host", "api.example.com")), "general routes serve what host routes do not")
	require.Equal(t, "general", body(serve(t, gw, "GET", "/v1/x", "Host", "other.org")))
}

func TestListeners(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Listener("public", 0, "public.example.com").Route("pub").PathPrefix("/").To(named("public")))
	require.NoError(t, gw.Listener("internal", 0, "*.internal").Route("int").PathPrefix("/").To(named("internal")))
	require.Equal(t, "public", body(serve(t, gw, "GET", "/", "Host", "public.example.com")))
	require.Equal(t, "internal", body(serve(t, gw, "GET", "/", "Host", "db.internal")))
	require.Equal(t, http.StatusNotFound, serve(t, gw, "GET", "/", "Host", "nope.org").Code)
}

func TestListenerPorts(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		{Name: "a", Port: 1, Routes: []agentgateway.RouteConfig{{Name: "a", Backends: []agentgateway.WeightedBackend{{Handler: named("a"), Weight: 1}}}}},
		{Name: "b", Port: 2, Routes: []agentgateway.RouteConfig{{Name: "b", Backends: []agentgateway.WeightedBackend{{Handler: named("b"), Weight: 1}}}}},
	}}))
	// A port no listener names is served by none of them: port 1's routes may be meant for port 1 only.
	require.Equal(t, http.StatusNotFound, serve(t, gw, "GET", "/").Code)
	// PortHandler serves as if on a port, so a config whose listeners name ports is testable anywhere.
	require.Equal(t, "a", body(serve(t, gw.PortHandler(1), "GET", "/")))
	require.Equal(t, "b", body(serve(t, gw.PortHandler(2), "GET", "/")))
	require.Equal(t, http.StatusNotFound, serve(t, gw.PortHandler(3), "GET", "/").Code)
	srv := httptest.NewServer(gw.PortHandler(2))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "b", string(b))
}

func TestConfigErrorsHavePaths(t *testing.T) {
	gw := agentgateway.New(quiet())
	err := gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{
		Name: "l",
		Routes: []agentgateway.RouteConfig{
			{Name: "ok", Backends: []agentgateway.WeightedBackend{{Handler: named("x"), Weight: 1}}},
			{Name: "bad", Matches: []agentgateway.Match{
				{Path: agentgateway.PathMatch{Type: agentgateway.PathRegex, Value: "("}},
				{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/"}, Headers: []agentgateway.ValueMatch{{Name: "X", Value: "[", Regex: true}}},
			}, Backends: []agentgateway.WeightedBackend{{Handler: named("x"), Weight: -1}}},
			{Name: "ok", Hostnames: []string{"a*b.com"}},
		},
	}}})
	require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	msg := err.Error()
	for _, want := range []string{
		"listeners[0].routes[1].matches[0].path: invalid regex",
		"listeners[0].routes[1].matches[1].headers[0].value: invalid regex",
		"listeners[0].routes[1].backends[0].weight",
		`listeners[0].routes[2].name: duplicate route name "ok"`,
		"listeners[0].routes[2].hostnames[0]",
	} {
		assert.Contains(t, msg, want)
	}
	// Nothing was applied.
	require.Equal(t, http.StatusNotFound, serve(t, gw, "GET", "/").Code)

	// The fluent API reports the same errors at To.
	err = gw.Route("r").PathRegex("(").To(named("x"))
	require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	require.Error(t, gw.Err())
}

func TestWeightedSplit(t *testing.T) {
	gw := agentgateway.New(quiet(), agentgateway.WithRandSource(seed(1)))
	require.NoError(t, gw.Route("split").PathPrefix("/").ToWeighted(
		agentgateway.WeightedBackend{Name: "a", Handler: named("a"), Weight: 80},
		agentgateway.WeightedBackend{Name: "b", Handler: named("b"), Weight: 20},
		agentgateway.WeightedBackend{Name: "never", Handler: named("never"), Weight: 0},
	))
	counts := map[string]int{}
	const n = 10000
	for range n {
		counts[body(serve(t, gw, "GET", "/"))]++
	}
	// With a fixed seed the split is reproducible; the bound is five standard deviations of a binomial.
	require.InDelta(t, 0.8*n, counts["a"], 200)
	require.InDelta(t, 0.2*n, counts["b"], 200)
	require.Zero(t, counts["never"])

	gw2 := agentgateway.New(quiet())
	require.NoError(t, gw2.Route("zero").PathPrefix("/").ToWeighted(agentgateway.Weighted(named("a"), 0)))
	require.Equal(t, http.StatusInternalServerError, serve(t, gw2, "GET", "/").Code, "all-zero weights answer 500 (Gateway API)")
}

func TestStateReachesBackend(t *testing.T) {
	gw := agentgateway.New(quiet())
	var got agentgateway.State
	require.NoError(t, gw.Route("r").PathPrefix("/api").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = *agentgateway.StateFrom(r.Context())
	})))
	r := httptest.NewRequest("GET", "/api/x", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	gw.ServeHTTP(httptest.NewRecorder(), r)
	require.Equal(t, "r", got.Route)
	require.Equal(t, "default", got.Listener)
	require.Equal(t, "r", got.Backend)
	require.Equal(t, "/api", got.MatchedPrefix)
	require.Equal(t, "192.0.2.7:5555", got.Source.String())
	require.False(t, got.Start.IsZero())
}

func TestPanicIs500(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Route("boom").PathPrefix("/").To(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	w := serve(t, gw, "GET", "/")
	require.Equal(t, http.StatusInternalServerError, w.Code)
}

// A panic after a 1xx informational response still gets a 500: a 103 Early Hints sends no final
// status, so the response can still be answered properly rather than cut off.
func TestPanicAfterEarlyHintsIs500(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Route("boom").PathPrefix("/").To(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		panic("boom")
	})))
	srv := httptest.NewServer(gw)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
}

func BenchmarkRouteLookup(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			cfg := agentgateway.ListenerConfig{Name: "l"}
			h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
			for i := range n {
				var m agentgateway.Match
				switch i % 3 {
				case 0:
					m.Path = agentgateway.PathMatch{Type: agentgateway.PathExact, Value: fmt.Sprintf("/svc%d/exact", i)}
				case 1:
					m.Path = agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: fmt.Sprintf("/svc%d/api", i)}
				default:
					m.Path = agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: fmt.Sprintf("/svc%d", i)}
					m.Method = "GET"
					m.Headers = []agentgateway.ValueMatch{{Name: "X-Tenant", Value: "t1"}}
				}
				cfg.Routes = append(cfg.Routes, agentgateway.RouteConfig{Name: fmt.Sprint(i), Matches: []agentgateway.Match{m},
					Backends: []agentgateway.WeightedBackend{{Handler: h, Weight: 1}}})
			}
			lookup := agentgateway.CompileForBenchmark(cfg)
			r := httptest.NewRequest("GET", fmt.Sprintf("/svc%d/api/v1/items", n-2), nil)
			r.Header.Set("X-Tenant", "t1")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if !lookup(r) {
					b.Fatal("no route")
				}
			}
		})
	}
}

// FuzzPathMatch checks the path matcher against a plain model of Gateway API semantics: a prefix
// matches whole segments, an exact path matches itself only.
func FuzzPathMatch(f *testing.F) {
	f.Add("/api", "/api/v1")
	f.Add("/api/", "/api")
	f.Add("/", "//")
	f.Add("/a/b", "/a/bc")
	f.Add("/%2F", "/%2F/x")
	f.Fuzz(func(t *testing.T, prefix, path string) {
		if !strings.HasPrefix(prefix, "/") || !strings.HasPrefix(path, "/") {
			return
		}
		// The matcher itself, on paths as given: normalization has its own fuzz target.
		gw := agentgateway.New(quiet(), agentgateway.WithPathNormalization(agentgateway.PathNormalization{Off: true}))
		if gw.Route("p").PathPrefix(prefix).To(named("p")) != nil {
			return
		}
		if gw.Route("e").Path(prefix).To(named("e")) != nil {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = path
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		p := strings.TrimSuffix(prefix, "/")
		wantPrefix := p == "" || path == p || strings.HasPrefix(path, p+"/")
		switch {
		case path == prefix:
			require.Equal(t, "e", w.Body.String())
		case wantPrefix:
			require.Equal(t, "p", w.Body.String(), "prefix %q path %q", prefix, path)
		default:
			require.Equal(t, http.StatusNotFound, w.Code, "prefix %q path %q", prefix, path)
		}
	})
}

// BenchmarkApply measures compiling and swapping a 1,000-route configuration (what a reload costs).
func BenchmarkApply(b *testing.B) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	cfg := agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "l"}}}
	for i := range 1000 {
		cfg.Listeners[0].Routes = append(cfg.Listeners[0].Routes, agentgateway.RouteConfig{
			Name:      fmt.Sprint(i),
			Hostnames: []string{fmt.Sprintf("h%d.example.com", i%10)},
			Matches: []agentgateway.Match{{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: fmt.Sprintf("/svc%d", i)},
				Headers: []agentgateway.ValueMatch{{Name: "X-Env", Value: "prod"}}}},
			Backends: []agentgateway.WeightedBackend{{Handler: h, Weight: 1}},
		})
	}
	gw := agentgateway.New(quiet())
	b.ReportAllocs()
	for b.Loop() {
		if err := gw.Apply(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSplitSkipsEjectedBackend: once passive health checking has ejected every endpoint of one of a
// route's backends, the split sends it nothing while another backend takes traffic; without any retry,
// only the requests that led to the ejection fail.
func TestSplitSkipsEjectedBackend(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	t.Cleanup(down.Close)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "up") }))
	t.Cleanup(up.Close)
	mk := func(u string) *agentgateway.HTTPBackend {
		b, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Endpoints: []string{u}, EjectAfter: 3})
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	downB, upB := mk(down.URL), mk(up.URL)
	gw := agentgateway.New(quiet(), agentgateway.WithRandSource(seed(7)))
	require.NoError(t, gw.Route("split").PathPrefix("/").ToWeighted(
		agentgateway.WeightedBackend{Name: "down", Handler: downB, Weight: 1},
		agentgateway.WeightedBackend{Name: "up", Handler: upB, Weight: 1}))
	failed := 0
	for range 100 {
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != http.StatusOK {
			failed++
		}
	}
	assert.Equal(t, 3, failed, "the three failures that ejected the endpoint, then none")
	assert.False(t, downB.Available())
	assert.True(t, upB.Available())
}
