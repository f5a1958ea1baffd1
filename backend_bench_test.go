package agentgateway_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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

func benchGateway(b *testing.B, upstream string, stdlib bool) *httptest.Server {
	backend, err := agw.NewHTTPBackend(agw.HTTPBackendConfig{Endpoints: []string{upstream}, MaxIdleConnsPerHost: 256,
		StdlibHTTP1: stdlib})
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

// processCPU returns the CPU time (user + system) the whole test process has used, from
// /proc/self/stat; ok is false where that file does not exist. It makes the benchmarks report
// "cpu-ns/op": client, gateway and upstream all run in this process, so the figure is the CPU cost of a
// request end to end, which unlike ns/op does not grow when other processes crowd the machine.
func processCPU() (d time.Duration, ok bool) {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const clockTick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * clockTick, true
}

func reportCPU(b *testing.B, start time.Duration, ok bool) {
	if end, ok2 := processCPU(); ok && ok2 && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

func runSerial(b *testing.B, url string) {
	c := benchClient(b)
	buf := make([]byte, len(benchBody)+1)
	benchGet(b, c, url, buf) // warm the pools
	b.ReportAllocs()
	cpu, ok := processCPU()
	b.ResetTimer()
	for b.Loop() {
		benchGet(b, c, url, buf)
	}
	b.StopTimer()
	reportCPU(b, cpu, ok)
}

func runParallel(b *testing.B, url string) {
	c := benchClient(b)
	benchGet(b, c, url, make([]byte, len(benchBody)+1))
	b.ReportAllocs()
	cpu, ok := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, len(benchBody)+1)
		for pb.Next() {
			benchGet(b, c, url, buf)
		}
	})
	b.StopTimer()
	reportCPU(b, cpu, ok)
}

// BenchmarkDirect is the baseline: http.Client straight to the upstream.
func BenchmarkDirect(b *testing.B) {
	runSerial(b, benchUpstream(b).URL+"/api/items?id=7")
}

// BenchmarkGateway is the same request through the gateway and its HTTP backend (the built-in
// HTTP/1.1 client).
func BenchmarkGateway(b *testing.B) {
	runSerial(b, benchGateway(b, benchUpstream(b).URL, false).URL+"/api/items?id=7")
}

// BenchmarkGatewayStdlib is BenchmarkGateway with the upstream request sent by net/http's Transport
// (HTTPBackendConfig.StdlibHTTP1).
func BenchmarkGatewayStdlib(b *testing.B) {
	runSerial(b, benchGateway(b, benchUpstream(b).URL, true).URL+"/api/items?id=7")
}

// BenchmarkDirectParallel is the parallel baseline.
func BenchmarkDirectParallel(b *testing.B) {
	runParallel(b, benchUpstream(b).URL+"/api/items?id=7")
}

// BenchmarkGatewayParallel is the parallel request through the gateway.
func BenchmarkGatewayParallel(b *testing.B) {
	runParallel(b, benchGateway(b, benchUpstream(b).URL, false).URL+"/api/items?id=7")
}

// BenchmarkGatewayStdlibParallel is BenchmarkGatewayParallel with net/http's Transport upstream.
func BenchmarkGatewayStdlibParallel(b *testing.B) {
	runParallel(b, benchGateway(b, benchUpstream(b).URL, true).URL+"/api/items?id=7")
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
