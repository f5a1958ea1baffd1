// Package policytest holds the test helpers of the policy subpackages: a recording backend, a request
// runner that attaches a State as the Gateway does, and a gRPC server for the services they call.
// Only tests import it.
package policytest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"

	agentgateway "github.com/agentgw/agentgateway"
)

// Seen records what the backend saw.
type Seen struct {
	Calls int
	Req   *http.Request
	State agentgateway.State
	Body  string
}

// Handler is a backend that records the request and answers status and body.
func (s *Seen) Handler(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Calls++
		s.Req = r
		if st := agentgateway.StateFrom(r.Context()); st != nil {
			s.State = *st
		}
		if r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			s.Body = string(b)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// Do runs one request through p in front of h, with a State as the Gateway would attach.
func Do(p agentgateway.Policy, h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	st := &agentgateway.State{}
	r = r.WithContext(agentgateway.WithState(r.Context(), st))
	w := httptest.NewRecorder()
	p.Wrap(h).ServeHTTP(w, r)
	return w
}

// Req builds a request with header name/value pairs.
func Req(method, target string, hdr ...string) *http.Request {
	return ReqBody(method, target, "", hdr...)
}

// ReqBody builds a request with a body and header name/value pairs.
func ReqBody(method, target, body string, hdr ...string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

// StartGRPC serves a gRPC server on a loopback port until the test ends and returns its address.
func StartGRPC(t testing.TB, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}
