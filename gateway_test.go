package agentgateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

func routeTo(name string, h http.Handler) agentgateway.Config {
	return agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "l", Routes: []agentgateway.RouteConfig{{
		Name: name, Backends: []agentgateway.WeightedBackend{{Handler: h, Weight: 1}},
	}}}}}
}

// closeCounter is a backend that records being closed, to observe retirement.
type closeCounter struct {
	http.Handler
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func TestHotReloadUnderLoad(t *testing.T) {
	gw := agentgateway.New(quiet(), agentgateway.WithDrainTimeout(5*time.Second))
	first := &closeCounter{Handler: named("v0")}
	require.NoError(t, gw.Apply(routeTo("r", first)))
	srv := httptest.NewServer(gw)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var failures, served atomic.Int64
	seen := sync.Map{}
	var wg sync.WaitGroup
	client := srv.Client()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := client.Get(srv.URL + "/x")
				if err != nil {
					failures.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
					continue
				}
				seen.Store(string(b), true)
				served.Add(1)
			}
		}()
	}
	for i := 1; i <= 50; i++ {
		require.NoError(t, gw.Apply(routeTo("r", named(fmt.Sprintf("v%d", i)))))
		time.Sleep(2 * time.Millisecond)
	}
	// A bad config in the middle is rejected and changes nothing.
	bad := routeTo("r", named("bad"))
	bad.Listeners[0].Routes[0].Matches = []agentgateway.Match{{Path: agentgateway.PathMatch{Type: agentgateway.PathRegex, Value: "("}}}
	require.Error(t, gw.Apply(bad))
	// The load goes on until the last config has served (on a busy machine that may take a while).
	assert.Eventually(t, func() bool { _, ok := seen.Load("v50"); return ok }, 10*time.Second, 5*time.Millisecond,
		"the last config serves after the swaps")
	cancel()
	wg.Wait()

	require.Zero(t, failures.Load(), "no request may fail during reloads")
	require.Positive(t, served.Load())
	_, sawBad := seen.Load("bad")
	require.False(t, sawBad)
	require.Eventually(t, func() bool { return first.closed.Load() == 1 }, 5*time.Second, 10*time.Millisecond,
		"a backend the new config dropped is closed once idle")
}

func TestReloadKeepsInFlightOnOldSnapshot(t *testing.T) {
	gw := agentgateway.New(quiet())
	started, release := make(chan struct{}), make(chan struct{})
	old := &closeCounter{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "old")
	})}
	require.NoError(t, gw.Apply(routeTo("r", old)))
	done := make(chan string)
	go func() { done <- body(serve(t, gw, "GET", "/")) }()
	<-started
	require.NoError(t, gw.Apply(routeTo("r", named("new"))))
	require.Equal(t, "new", body(serve(t, gw, "GET", "/")))
	time.Sleep(100 * time.Millisecond)
	require.Zero(t, old.closed.Load(), "a backend still serving a request is not closed")
	close(release)
	require.Equal(t, "old", <-done)
	require.Eventually(t, func() bool { return old.closed.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestShutdownDrainsOpenStream(t *testing.T) {
	gw := agentgateway.New(quiet(), agentgateway.WithDrainTimeout(10*time.Second))
	next := make(chan struct{})
	require.NoError(t, gw.Route("sse").PathPrefix("/").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.ServeListener(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "data: 0\n", line)

	cancel() // begin draining with the stream open
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "the listener closes at once")
	select {
	case err := <-served:
		t.Fatalf("Serve returned while a stream was open: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	next <- struct{}{}
	next <- struct{}{}
	rest, err := io.ReadAll(rd)
	require.NoError(t, err)
	require.Equal(t, "\ndata: 1\n\ndata: 2\n\n", string(rest), "the open stream runs to completion")
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the stream finished")
	}
}

func TestShutdownDeadlineCancelsStreams(t *testing.T) {
	gw := agentgateway.New(quiet(), agentgateway.WithDrainTimeout(200*time.Millisecond))
	cancelled := make(chan struct{})
	require.NoError(t, gw.Route("hang").PathPrefix("/").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(cancelled)
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.ServeListener(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	cancel()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled at the drain deadline")
	}
	require.ErrorIs(t, <-served, context.DeadlineExceeded)
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&buf, &mu}, nil))
	gw := agentgateway.New(agentgateway.WithLogger(logger))
	require.NoError(t, gw.Route("logged").PathPrefix("/api").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := agentgateway.StateFrom(r.Context())
		st.MCP.Method = "tools/call"
		st.MCP.SessionID = "secret-session-id"
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(201)
		_, _ = io.WriteString(w, "hello")
	})))
	r := httptest.NewRequest("POST", "/api/x", strings.NewReader("12345678"))
	gw.ServeHTTP(httptest.NewRecorder(), r)
	var line map[string]any
	mu.Lock()
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	mu.Unlock()
	require.Equal(t, "request", line["msg"])
	require.Equal(t, "POST", line["method"])
	require.Equal(t, "/api/x", line["path"])
	require.EqualValues(t, 201, line["status"])
	require.Equal(t, "logged", line["route"])
	require.Equal(t, "logged", line["backend"])
	require.EqualValues(t, 8, line["bytes_in"])
	require.EqualValues(t, 5, line["bytes_out"])
	require.Equal(t, "tools/call", line["mcp.method"])
	require.Len(t, line["mcp.session"], 12, "a fingerprint of the session id")
	mu.Lock()
	require.NotContains(t, buf.String(), "secret-session-id", "session ids are credentials and never logged")
	mu.Unlock()
	require.Contains(t, line, "duration")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A failed builder call reports its error where it was made and in Err, and spoils nothing else:
// later routes are added, other listeners serve, and Serve starts.
func TestBuilderErrorsStayWithTheirCall(t *testing.T) {
	gw := agentgateway.New(quiet())
	err := gw.Route("bad").PathRegex("(").To(named("x"))
	require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	require.ErrorContains(t, err, `route "bad"`)

	bad := gw.Listener("admin", 70000)
	err = bad.Route("on-bad-listener").To(named("y"))
	require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	require.ErrorContains(t, err, `listener "admin".port`)

	require.NoError(t, gw.Route("good").PathPrefix("/good").To(named("good")), "an unrelated route is unaffected")
	require.ErrorContains(t, gw.Route("nil").To(nil), "nil backend")
	require.NoError(t, gw.Route("direct").PathPrefix("/direct").Respond(http.StatusTeapot, "tea").Done())

	require.Equal(t, "good", serve(t, gw, "GET", "/good").Body.String())
	require.Equal(t, http.StatusTeapot, serve(t, gw, "GET", "/direct").Code)
	require.Equal(t, http.StatusNotFound, serve(t, gw, "GET", "/x").Code, "the failed route was not added")

	joined := gw.Err()
	for _, want := range []string{`route "bad"`, `listener "admin"`, "nil backend"} {
		require.ErrorContains(t, joined, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, "127.0.0.1:0") }()
	cancel()
	require.NoError(t, <-served, "Serve starts despite the failed calls it did not make")
}

// countingBackend counts how often the gateway provisions it: once when its route is validated and
// once per compile of a table that holds it.
type countingBackend struct {
	http.Handler
	n *atomic.Int64
}

func (c countingBackend) Provision(agentgateway.Services) error { c.n.Add(1); return nil }

// Adding n routes fluently compiles the table once, not n times (which made 2,000 routes take seconds).
func TestFluentRoutesCompileOnce(t *testing.T) {
	gw := agentgateway.New(quiet())
	var n atomic.Int64
	const routes = 200
	for i := range routes {
		require.NoError(t, gw.Route(fmt.Sprint("r", i)).Path(fmt.Sprint("/r", i)).To(countingBackend{named(fmt.Sprint(i)), &n}))
	}
	require.Equal(t, "137", serve(t, gw, "GET", "/r137").Body.String())
	require.Equal(t, "3", serve(t, gw, "GET", "/r3").Body.String())
	require.LessOrEqual(t, n.Load(), int64(2*routes), "each route is provisioned when validated and at the one compile")
}

func TestSourceFromTrustedProxies(t *testing.T) {
	gw := agentgateway.New(quiet(), agentgateway.WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8")))
	var st agentgateway.State
	require.NoError(t, gw.Route("r").PathPrefix("/").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st = *agentgateway.StateFrom(r.Context())
	})))
	cases := []struct {
		peer, xff, want string
		trusted         bool
	}{
		{"192.0.2.1:1000", "203.0.113.9", "192.0.2.1:1000", false},        // untrusted peer: XFF ignored
		{"10.1.1.1:1000", "203.0.113.9", "203.0.113.9:0", true},           // trusted peer: its client
		{"10.1.1.1:1000", "203.0.113.9, 10.2.2.2", "203.0.113.9:0", true}, // skip trusted hops from the right
		{"10.1.1.1:1000", "198.51.100.1, 203.0.113.9", "203.0.113.9:0", true},
		{"10.1.1.1:1000", "garbage", "10.1.1.1:1000", true},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		r.Header.Set("X-Forwarded-For", c.xff)
		gw.ServeHTTP(httptest.NewRecorder(), r)
		require.Equal(t, c.want, st.Source.String(), c)
		require.Equal(t, c.trusted, st.TrustedProxy, c)
	}
}
