package agentgateway_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	agw "github.com/agentgw/agentgateway"
)

// The benchmarks compare one small GET sent straight to a loopback upstream (Direct) with the same
// request sent through a Gateway with one route to an HTTP backend (Gateway). The difference is what
// the gateway adds: its own HTTP server side, routing, the proxy and the upstream client side.
//
//	go test -run '^$' -bench . -benchmem -count 5

var benchBody = []byte(`{"ok":true,"message":"hello from the upstream"}`)

func benchUpstream(b *testing.B) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(benchBody)
	}))
	up.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.Cleanup(up.Close)
	return up
}

func benchClient(b *testing.B) *http.Client {
	t := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	b.Cleanup(t.CloseIdleConnections)
	return &http.Client{Transport: t}
}

func benchGateway(b *testing.B, upstream string) *httptest.Server {
	backend, err := agw.NewHTTPBackend(agw.HTTPBackendConfig{Endpoints: []string{upstream}, MaxIdleConnsPerHost: 256})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = backend.Close() })
	gw := agw.New(agw.WithAccessLog(false))
	if err := gw.Route("bench").PathPrefix("/").To(backend); err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(gw)
	b.Cleanup(front.Close)
	return front
}

func benchGet(b *testing.B, c *http.Client, url string, buf []byte) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n != len(benchBody) {
		b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
	}
}

func runSerial(b *testing.B, url string) {
	c := benchClient(b)
	buf := make([]byte, len(benchBody)+1)
	benchGet(b, c, url, buf) // warm the pools
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		benchGet(b, c, url, buf)
	}
}

func runParallel(b *testing.B, url string) {
	c := benchClient(b)
	benchGet(b, c, url, make([]byte, len(benchBody)+1))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, len(benchBody)+1)
		for pb.Next() {
			benchGet(b, c, url, buf)
		}
	})
}

// BenchmarkDirect is the baseline: http.Client straight to the upstream.
func BenchmarkDirect(b *testing.B) {
	runSerial(b, benchUpstream(b).URL+"/api/items?id=7")
}

// BenchmarkGateway is the same request through the gateway and its HTTP backend.
func BenchmarkGateway(b *testing.B) {
	runSerial(b, benchGateway(b, benchUpstream(b).URL).URL+"/api/items?id=7")
}

// BenchmarkDirectParallel is the parallel baseline.
func BenchmarkDirectParallel(b *testing.B) {
	runParallel(b, benchUpstream(b).URL+"/api/items?id=7")
}

// BenchmarkGatewayParallel is the parallel request through the gateway.
func BenchmarkGatewayParallel(b *testing.B) {
	runParallel(b, benchGateway(b, benchUpstream(b).URL).URL+"/api/items?id=7")
}

// BenchmarkGatewayHTTPUtil is the reference point: the same gateway route to a stock
// httputil.ReverseProxy instead of the HTTP backend.
func BenchmarkGatewayHTTPUtil(b *testing.B) {
	target, err := url.Parse(benchUpstream(b).URL)
	if err != nil {
		b.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	t := &http.Transport{MaxIdleConnsPerHost: 256}
	b.Cleanup(t.CloseIdleConnections)
	rp.Transport = t
	gw := agw.New(agw.WithAccessLog(false))
	if err := gw.Route("bench").PathPrefix("/").To(rp); err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(gw)
	b.Cleanup(front.Close)
	runSerial(b, front.URL+"/api/items?id=7")
}
