package h1server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkServe compares the server loops on one keep-alive loopback connection with a handler that
// answers "ok" (the inbound half of a proxied request): go test -bench Serve -benchmem.
func BenchmarkServe(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ok")
	})
	run := func(b *testing.B, serve func(net.Listener)) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go serve(ln)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req := []byte("GET /v1/x HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
		}
	}
	b.Run("net-http", func(b *testing.B) {
		srv := &http.Server{Handler: ok}
		run(b, func(ln net.Listener) { srv.Serve(ln) })
		srv.Close()
	})
	b.Run("h1server", func(b *testing.B) {
		s := &Server{Handler: ok}
		run(b, func(ln net.Listener) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go s.ServeConn(c)
			}
		})
		s.Close()
	})
}
