package agentgateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// timingWriter is a custom policy's response interceptor: a HookedWriter embedded by value, with the
// hook implemented by the struct itself, so it costs the policy one allocation and no more.
type timingWriter struct {
	agentgateway.HookedWriter
	start time.Time
}

func (t *timingWriter) BeforeHeader(h http.Header, status int) int {
	h.Set("X-Elapsed-Ms", strconv.FormatInt(time.Since(t.start).Milliseconds(), 10))
	return status
}

// A policy that adds a header to every response, just before it is sent.
func ExampleHookedWriter() {
	timing := agentgateway.NewPolicy(agentgateway.PhaseFilter, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tw := &timingWriter{start: time.Now()}
			tw.Init(w, tw, nil)
			next.ServeHTTP(tw, r)
		})
	})
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	gw.Route("hello").Use(timing).To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello")) // no WriteHeader: the hook runs with 200
	}))

	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("X-Elapsed-Ms") != "", rec.Body.String())
	// Output: 200 true hello
}
