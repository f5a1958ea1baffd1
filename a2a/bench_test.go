package a2a_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	a2agw "github.com/agentgw/agentgateway/a2a"
)

// replyExecutor answers with a message at once: the benchmark measures the path, not the agent.
type replyExecutor struct{}

func (replyExecutor) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "ok"}))
}

func (replyExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return nil
}

const sendBody = `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hello"}]}}}`

func post(b *testing.B, c *http.Client, url, body string) {
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkMessageSend compares message/send to an a2a-go agent directly and through the gateway
// (a route with the A2A layer and the HTTP backend), over loopback TCP with keep-alive.
func BenchmarkMessageSend(b *testing.B) {
	agent := httptest.NewServer(a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(replyExecutor{})))
	defer agent.Close()
	backend := agentgateway.HTTP(agent.URL)
	defer backend.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(b, gw.Route("a").PathPrefix("/agents/a").RewritePrefix("/").To(a2agw.Proxy(backend)))
	require.NoError(b, gw.Route("plain").PathPrefix("/plain").RewritePrefix("/").To(backend))
	gws := httptest.NewServer(gw)
	defer gws.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()

	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			post(b, client, agent.URL+"/", sendBody)
		}
	})
	b.Run("gateway-http-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			post(b, client, gws.URL+"/plain/", sendBody)
		}
	})
	b.Run("gateway", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			post(b, client, gws.URL+"/agents/a/", sendBody)
		}
	})
}

// BenchmarkA2ALayer isolates the A2A layer: an in-process upstream called directly and through Proxy.
func BenchmarkA2ALayer(b *testing.B) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
	})
	proxy := a2agw.Proxy(upstream)
	body := []byte(sendBody)
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		w := httptest.NewRecorder()
		for b.Loop() {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			h.ServeHTTP(w, r.WithContext(agentgateway.WithState(r.Context(), &agentgateway.State{})))
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, upstream) })
	b.Run("proxy", func(b *testing.B) { run(b, proxy) })
}

// BenchmarkParseCall measures the one pass over a request body.
func BenchmarkParseCall(b *testing.B) {
	body := []byte(sendBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := a2agw.ParseCall(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamLatency measures how long each server-sent event takes from the moment the upstream
// wrote it (a timestamp inside the event) to the moment the client has read it, directly and through
// the gateway. Reported: p50 and max µs per event.
func BenchmarkStreamLatency(b *testing.B) {
	const events = 50
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		f := w.(http.Flusher)
		f.Flush()
		for i := 0; i < events; i++ {
			time.Sleep(200 * time.Microsecond)
			_, _ = io.WriteString(w, `data: {"jsonrpc":"2.0","id":1,"result":{"kind":"status-update","taskId":"t","contextId":"c","status":{"state":"working"},"ts":`+strconv.FormatInt(time.Now().UnixNano(), 10)+"}}\n\n")
			f.Flush()
		}
	}))
	defer upstream.Close()
	backend := agentgateway.HTTP(upstream.URL)
	defer backend.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(b, gw.Route("a").PathPrefix("/a").RewritePrefix("/").To(a2agw.Proxy(backend)))
	require.NoError(b, gw.Route("bridged").PathPrefix("/bridged").RewritePrefix("/").To(a2agw.Proxy(backend, a2agw.Bridge(a2agw.V03))))
	gws := httptest.NewServer(gw)
	defer gws.Close()
	client := &http.Client{}
	defer client.CloseIdleConnections()

	measure := func(b *testing.B, url string, body string) {
		var lat []time.Duration
		for b.Loop() {
			resp, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := sc.Text()
				if i := strings.Index(line, `"ts":`); i >= 0 {
					j := i + 5
					for j < len(line) && line[j] >= '0' && line[j] <= '9' {
						j++
					}
					ts, _ := strconv.ParseInt(line[i+5:j], 10, 64)
					lat = append(lat, time.Since(time.Unix(0, ts)))
				}
			}
			resp.Body.Close()
		}
		slices.Sort(lat)
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs/event")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs/event")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs/event")
		}
	}
	v1Body := `{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"x"}]}}}`
	b.Run("direct", func(b *testing.B) { measure(b, upstream.URL+"/", streamBody) })
	b.Run("gateway", func(b *testing.B) { measure(b, gws.URL+"/a/", streamBody) })
	b.Run("gateway-bridged-v1-client", func(b *testing.B) { measure(b, gws.URL+"/bridged/", v1Body) })
}
