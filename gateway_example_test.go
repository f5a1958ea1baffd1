package agentgateway_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	agentgateway "github.com/agentgw/agentgateway"
)

// A gateway is an http.Handler: routes, policies and backends are plain Go, and httptest drives it.
func Example() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s with X-Gateway=%s", r.URL.Path, r.Header.Get("X-Gateway"))
	}))
	defer upstream.Close()

	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	gw.Route("api").PathPrefix("/api").
		RewritePrefix("/").
		RequestHeaders(agentgateway.HeaderModifier{Set: map[string]string{"X-Gateway": "agw"}}).
		To(agentgateway.HTTP(upstream.URL))
	gw.Route("health").Path("/healthz").Respond(http.StatusOK, "ok").To(nil)
	if err := gw.Err(); err != nil {
		panic(err)
	}

	srv := httptest.NewServer(gw)
	defer srv.Close()
	for _, path := range []string{"/api/users", "/healthz", "/nowhere"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	// Output:
	// 200 upstream saw /users with X-Gateway=agw
	// 200 ok
	// 404 {"error":{"code":404,"message":"no route matched"}}
}

// Any func(http.Handler) http.Handler is a policy through PolicyFunc; it reads the per-request State
// the gateway fills.
func ExampleStateFrom() {
	audit := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := agentgateway.StateFrom(r.Context())
			w.Header().Set("X-Route", st.Route)
			next.ServeHTTP(w, r)
		})
	}
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	gw.Route("orders").PathPrefix("/orders").Use(agentgateway.PolicyFunc(audit)).Respond(http.StatusOK, "orders").To(nil)

	w := httptest.NewRecorder()
	gw.ServeHTTP(w, httptest.NewRequest("GET", "/orders/7", nil))
	fmt.Println(w.Header().Get("X-Route"), w.Body.String())
	// Output: orders orders
}

// Weighted backends split traffic; Apply installs a whole configuration atomically.
func ExampleGateway_Apply() {
	blue := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "blue") })
	green := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "green") })
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	err := gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{
		Name: "public",
		Routes: []agentgateway.RouteConfig{{
			Name:    "canary",
			Matches: []agentgateway.Match{{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/"}}},
			Backends: []agentgateway.WeightedBackend{
				{Name: "blue", Handler: blue, Weight: 100},
				{Name: "green", Handler: green, Weight: 0}, // not yet
			},
		}},
	}}})
	fmt.Println(err)
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Println(w.Body.String())
	// Output:
	// <nil>
	// blue
}

// Configuration errors carry field paths and match ErrInvalidConfig.
func ExampleConfigError() {
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	err := gw.Route("bad").PathRegex("/items/(").To(agentgateway.HTTP("http://127.0.0.1:9000"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, agentgateway.ErrInvalidConfig))
	// Output:
	// route "bad".matches[0].path: invalid regex: error parsing regexp: missing closing ): `/items/(`
	// true
}
