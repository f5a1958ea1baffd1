package policy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	agentgateway "github.com/agentgw/agentgateway"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// seen records what the backend saw.
type seen struct {
	calls int
	req   *http.Request
	st    agentgateway.State
	body  string
}

func (s *seen) handler(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls++
		s.req = r
		if st := agentgateway.StateFrom(r.Context()); st != nil {
			s.st = *st
		}
		if r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			s.body = string(b)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// do runs one request through p in front of h, with a State as the Gateway would attach.
func do(p agentgateway.Policy, h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	st := &agentgateway.State{}
	r = r.WithContext(agentgateway.WithState(r.Context(), st))
	w := httptest.NewRecorder()
	p.Wrap(h).ServeHTTP(w, r)
	return w
}

func req(method, target string, hdr ...string) *http.Request {
	var body io.Reader
	r := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func reqBody(method, target, body string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}
