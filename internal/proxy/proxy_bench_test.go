package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// cannedTransport answers every request with the same small response without any I/O, so that
// BenchmarkServe measures the proxy core alone.
type cannedTransport struct {
	resp http.Response
	body strings.Reader
}

func (c *cannedTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.body.Reset(`{"ok":true}`)
	c.resp.Body = io.NopCloser(&c.body)
	return &c.resp, nil
}

// discardWriter is a reusable ResponseWriter.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServe is the cost of the proxy core per request: building the outbound request, picking an
// endpoint, and copying the response (the transport is a stub).
func BenchmarkServe(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(map[int]string{1: "one endpoint", 3: "three endpoints"}[n], func(b *testing.B) {
			rt := &cannedTransport{resp: http.Response{StatusCode: 200, ContentLength: 11,
				Header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {"11"}}}}
			var eps []Endpoint
			for range n {
				eps = append(eps, Endpoint{Scheme: "http", Host: "127.0.0.1:8080"})
			}
			p := New(Options{Endpoints: eps, Transport: rt, EjectAfter: 5})
			req, _ := http.NewRequest(http.MethodGet, "http://front/api/items?id=7", nil)
			req.RemoteAddr = "192.0.2.1:5555"
			req.Header = http.Header{"User-Agent": {"bench"}, "Accept": {"*/*"}}
			w := &discardWriter{}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.h = make(http.Header, 4)
				if err := p.Serve(w, req, nil, false, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
