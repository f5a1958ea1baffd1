package agentgateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	agw "github.com/agentgw/agentgateway"
)

// A route that forwards everything under /api to one upstream, with its prefix rewritten away.
func ExampleHTTP() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream got %s %s (Host %s)", r.Method, r.URL.Path, r.Host)
	}))
	defer upstream.Close()

	gw := agw.New(agw.WithAccessLog(false))
	backend := agw.HTTP(upstream.URL)
	defer backend.Close()
	if err := gw.Route("api").PathPrefix("/api").RewritePrefix("/").To(backend); err != nil {
		fmt.Println(err)
		return
	}
	front := httptest.NewServer(gw)
	defer front.Close()

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/api/items", nil)
	req.Host = "gateway.example"
	resp, err := front.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 upstream got GET /items (Host gateway.example)
}

// A backend with two endpoints, a base path and passive health checking, used as a plain
// http.Handler.
func ExampleNewHTTPBackend() {
	upstream := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", name, r.URL.Path)
		}))
	}
	a, b := upstream("a"), upstream("b")
	defer a.Close()
	defer b.Close()

	backend, err := agw.NewHTTPBackend(agw.HTTPBackendConfig{
		Name:        "inventory",
		Endpoints:   []string{a.URL + "/v2", b.URL + "/v2"},
		DialTimeout: 2 * time.Second,
		EjectAfter:  3,
		EjectFor:    10 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer backend.Close()

	rec := httptest.NewRecorder()
	backend.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/items/7", nil))
	fmt.Println(backend.BackendName(), rec.Code, rec.Body.String()[2:]) // either endpoint may answer
	// Output: inventory 200 /v2/items/7
}

// Endpoints change in place, as an EndpointSlice or xDS update would change them: no configuration is
// rebuilt and the next request goes to the new set.
func ExampleHTTPBackend_SetEndpoints() {
	upstream := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) }))
	}
	blue, green := upstream("blue"), upstream("green")
	defer blue.Close()
	defer green.Close()

	backend, err := agw.NewHTTPBackend(agw.HTTPBackendConfig{Endpoints: []string{blue.URL}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer backend.Close()
	get := func() string {
		rec := httptest.NewRecorder()
		backend.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Body.String()
	}
	fmt.Println(get())
	if err := backend.SetEndpoints([]string{green.URL}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(get())
	// Output:
	// blue
	// green
}
