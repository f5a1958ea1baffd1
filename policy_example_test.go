package agentgateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	agentgateway "github.com/agentgw/agentgateway"
)

// Policies run by phase, whatever order they are added in: the authorization rule below is added first
// but runs after the authentication that sets the identity it reads. A plain middleware is a
// PolicyFunc and runs at PhaseCustom.
func ExampleNewPolicy() {
	authn := agentgateway.NewPolicy(agentgateway.PhaseAuthn, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			agentgateway.StateFrom(r.Context()).Identity.Subject = r.Header.Get("X-User") // a stand-in
			next.ServeHTTP(w, r)
		})
	})
	authz := agentgateway.NewPolicy(agentgateway.PhaseAuthz, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if agentgateway.StateFrom(r.Context()).Identity.Subject != "alice" {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	stamp := agentgateway.PolicyFunc(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen-By", agentgateway.StateFrom(r.Context()).Identity.Subject)
			next.ServeHTTP(w, r)
		})
	})
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	_ = gw.Route("api").Use(authz, stamp, authn).Respond(http.StatusOK, "ok").Done()

	for _, user := range []string{"alice", "bob"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-User", user)
		gw.ServeHTTP(w, r)
		fmt.Println(user, w.Code, w.Header().Get("X-Seen-By"))
	}
	// Output:
	// alice 200 alice
	// bob 403
}

// countRequests is an Observer that counts requests by route.
type countRequests map[string]int

func (c countRequests) Start(ctx context.Context, _ *http.Request, _ *agentgateway.State) context.Context {
	return ctx
}

func (c countRequests) End(_ context.Context, _ *http.Request, st *agentgateway.State) {
	c[st.Route]++
}

// An Observer sees every request end with its State; the access log is one too.
func ExampleWithObserver() {
	counts := countRequests{}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == "time" || a.Key == "duration" || a.Key == "source" {
				return slog.Attr{} // keep the example's output stable
			}
			return a
		},
	}))
	gw := agentgateway.New(agentgateway.WithLogger(logger), agentgateway.WithObserver(counts))
	_ = gw.Route("hello").Path("/hello").Respond(http.StatusOK, "hi").Done()
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/hello", nil))
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/hello", nil))
	fmt.Println(counts["hello"])
	// Output:
	// level=INFO msg=request method=GET path=/hello status=200 listener=default route=hello backend="" bytes_in=0 bytes_out=2
	// level=INFO msg=request method=GET path=/hello status=200 listener=default route=hello backend="" bytes_in=0 bytes_out=2
	// 2
}

// A configuration whose listeners name ports serves each listener only on its port; PortHandler serves
// requests as if they had arrived on one, for tests.
func ExampleGateway_PortHandler() {
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	_ = gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		{Name: "public", Port: 8080, Routes: []agentgateway.RouteConfig{{Name: "hi", Policies: []agentgateway.Policy{mustRespond("public")}}}},
		{Name: "admin", Port: 9090, Routes: []agentgateway.RouteConfig{{Name: "admin", Policies: []agentgateway.Policy{mustRespond("admin")}}}},
	}})
	for _, port := range []int{8080, 9090, 7000} {
		w := httptest.NewRecorder()
		gw.PortHandler(port).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		fmt.Println(port, w.Code, w.Body.String())
	}
	// Output:
	// 8080 200 public
	// 9090 200 admin
	// 7000 404 {"error":{"code":404,"message":"no route matched"}}
}

func mustRespond(body string) agentgateway.Policy {
	p, err := agentgateway.Respond(agentgateway.DirectResponse{Status: http.StatusOK, Body: []byte(body)})
	if err != nil {
		panic(err)
	}
	return p
}
