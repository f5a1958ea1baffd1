package a2a_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	a2agw "github.com/agentgw/agentgateway/a2a"
	"github.com/agentgw/agentgateway/cel"
)

func TestBadInputGetsJSONRPCErrors(t *testing.T) {
	agent := startGoAgent(t, "go-echo")
	gw, logs := gatewayFor(t, "/agents/echo", a2agw.Proxy(agentgateway.HTTP(agent), a2agw.MaxBodyBytes(1024)))
	url := gw + "/agents/echo/rpc"

	for _, tc := range []struct {
		name, body string
		status     int
		code       float64
		id         any
	}{
		{"non-JSON", `hello there`, 200, -32700, nil},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"message/send"`, 200, -32700, nil},
		{"unknown method", `{"jsonrpc":"2.0","id":"x","method":"tasks/explode","params":{}}`, 200, -32601, "x"},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"tasks/get"}]`, 200, -32600, nil},
		{"wrong version", `{"jsonrpc":"1.0","id":2,"method":"tasks/get","params":{"id":"t"}}`, 200, -32600, float64(2)},
		{"method not a string", `{"jsonrpc":"2.0","id":3,"method":42}`, 200, -32600, float64(3)},
		{"params not an object", `{"jsonrpc":"2.0","id":4,"method":"tasks/get","params":[1]}`, 200, -32602, float64(4)},
		{"oversized", `{"jsonrpc":"2.0","id":5,"method":"message/send","params":{"pad":"` + strings.Repeat("a", 2048) + `"}}`, 413, -32600, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := rpc(t, url, tc.body)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, "2.0", resp["jsonrpc"])
			assert.Equal(t, tc.id, resp["id"])
			errObj, _ := resp["error"].(map[string]any)
			require.NotNil(t, errObj, "%v", resp)
			assert.Equal(t, tc.code, errObj["code"])
			assert.NotEmpty(t, errObj["message"])
		})
	}
	assert.Contains(t, logs.String(), "a2a: request body too large")
}

func TestMethodAndIDsInState(t *testing.T) {
	var seen agentgateway.A2AState
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = agentgateway.StateFrom(r.Context()).A2A
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":%q}`, b) // echo what reached the agent
	})
	gw, logs := gatewayFor(t, "/a", a2agw.Proxy(upstream))
	body := `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","taskId":"task-1","contextId":"ctx-1","parts":[{"kind":"text","text":"hi \"there\""}]}}}`
	_, resp := rpc(t, gw+"/a/", body)
	assert.Equal(t, body, resp["result"], "the body reaches the agent byte for byte")
	assert.Equal(t, agentgateway.A2AState{Method: "message/send", Version: "0.3", TaskID: "task-1", ContextID: "ctx-1"}, seen)
	assert.Contains(t, logs.String(), `"a2a.method":"message/send","a2a.task.id":"task-1","a2a.context.id":"ctx-1"`)

	_, _ = rpc(t, gw+"/a/", `{"jsonrpc":"2.0","id":2,"method":"CancelTask","params":{"id":"task-9"}}`, "A2A-Version", "1.0")
	assert.Equal(t, agentgateway.A2AState{Method: "CancelTask", Version: "1.0", TaskID: "task-9"}, seen)
}

func TestAuthorizeOnlySomeCallersMayCancel(t *testing.T) {
	agent := startGoAgent(t, "go-echo")
	// Identity comes from an authentication policy; this stand-in reads a header as a test would not
	// trust in production.
	authn := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			agentgateway.StateFrom(r.Context()).Identity.Subject = r.Header.Get("X-User")
			next.ServeHTTP(w, r)
		})
	}
	proxy := a2agw.Proxy(agentgateway.HTTP(agent),
		a2agw.Authorize(`!(a2a.method in ["tasks/cancel", "CancelTask"]) || identity == "admin"`))
	require.NoError(t, proxy.Validate())
	gwObj := agentgateway.New()
	require.NoError(t, gwObj.Route("agent").PathPrefix("/agents/echo").RewritePrefix("/").Use(agentgateway.NewPolicy(agentgateway.PhaseAuthn, authn)).To(proxy))
	srv := httptest.NewServer(gwObj)
	defer srv.Close()
	url := srv.URL + "/agents/echo/rpc"

	_, resp := rpc(t, url, `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"configuration":{"blocking":false},"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"wait"}]}}}`, "X-User", "bob")
	task := resp["result"].(map[string]any)
	id := task["id"].(string)

	cancel := fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tasks/cancel","params":{"id":%q}}`, id)
	status, resp := rpc(t, url, cancel, "X-User", "bob")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, float64(a2agw.CodeForbidden), resp["error"].(map[string]any)["code"])

	status, resp = rpc(t, url, cancel, "X-User", "admin")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "canceled", resp["result"].(map[string]any)["status"].(map[string]any)["state"])
}

func TestAuthorizeBadRuleIsAConfigError(t *testing.T) {
	gw := agentgateway.New()
	err := gw.Route("x").PathPrefix("/x").To(a2agw.Proxy(http.NotFoundHandler(), a2agw.Authorize(`a2a.method ==`)))
	require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "rules[0]")
	require.ErrorIs(t, err, cel.ErrCompile)
}

// TestAuthorizeRulesDenyWinsAndDenyByDefault: the A2A layer applies cel.RuleSet's meaning. A call no
// allow rule matches is refused (deny by default), a deny rule refuses a call an allow rule matches
// (deny wins), also when the allow rule comes from Authorize and the deny rule from another option.
func TestAuthorizeRulesDenyWinsAndDenyByDefault(t *testing.T) {
	var calls atomic.Int32
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})
	for name, opts := range map[string][]a2agw.Option{
		"one rule set":   {a2agw.AuthorizeRules(cel.MustCompileRules(cel.Allow(`a2a.method.startsWith("tasks/")`), cel.Deny(`a2a.method == "tasks/cancel"`)))},
		"across options": {a2agw.Authorize(`a2a.method.startsWith("tasks/")`), a2agw.AuthorizeRules(cel.MustCompileRules(cel.Deny(`a2a.method == "tasks/cancel"`)))},
	} {
		calls.Store(0)
		gw := agentgateway.New(agentgateway.WithAccessLog(false))
		require.NoError(t, gw.Route("a").PathPrefix("/a").To(a2agw.Proxy(upstream, opts...)), name)
		srv := httptest.NewServer(gw)
		for method, want := range map[string]int{"tasks/get": http.StatusOK, "tasks/cancel": http.StatusForbidden, "tasks/pushNotificationConfig/get": http.StatusOK, "message/send": http.StatusForbidden} {
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":{"id":"t1","message":{"kind":"message","messageId":"m1","role":"user","parts":[]}}}`, method)
			status, resp := rpc(t, srv.URL+"/a", body)
			assert.Equal(t, want, status, "%s: %s", name, method)
			if want == http.StatusForbidden {
				assert.Equal(t, float64(a2agw.CodeForbidden), resp["error"].(map[string]any)["code"], "%s: %s", name, method)
			}
		}
		srv.Close()
		assert.Equal(t, int32(2), calls.Load(), "%s: denied calls never reach the agent", name)
	}
}

func TestInspectFillsStateBeforeOtherPolicies(t *testing.T) {
	var method string
	authz := agentgateway.NewPolicy(agentgateway.PhaseAuthz, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			method = agentgateway.StateFrom(r.Context()).A2A.Method
			next.ServeHTTP(w, r)
		})
	})
	var reads atomic.Int32
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	gw := agentgateway.New()
	require.NoError(t, gw.Route("a").PathPrefix("/a").Use(authz).To(a2agw.Proxy(upstream)))
	srv := httptest.NewServer(gw)
	defer srv.Close()
	body := `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"t1"}}`
	resp, err := http.Post(srv.URL+"/a", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "tasks/get", method)
	assert.Equal(t, body, string(got))
}

func TestCardRewrite(t *testing.T) {
	card := `{"name":"x","protocolVersion":"0.3.0","url":"http://agent.internal:9999/rpc?tenant=a","preferredTransport":"JSONRPC",
	  "additionalInterfaces":[{"url":"http://agent.internal:9999/rpc","transport":"JSONRPC"},{"url":"agent.internal:50051","transport":"GRPC"}],
	  "supportedInterfaces":[{"url":"http://agent.internal:9999/v1","protocolBinding":"JSONRPC","protocolVersion":"1.0"}],
	  "capabilities":{},"skills":[]}`
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"abc"`)
		_, _ = io.WriteString(w, card)
	})
	get := func(t *testing.T, url string, hdr ...string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		if !strings.Contains(url, "off") {
			assert.Empty(t, resp.Header.Get("ETag"), "the upstream's ETag does not describe the rewritten card")
		}
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return m
	}
	urls := func(m map[string]any) []string {
		out := []string{m["url"].(string)}
		for _, k := range []string{"additionalInterfaces", "supportedInterfaces"} {
			for _, i := range m[k].([]any) {
				out = append(out, i.(map[string]any)["url"].(string))
			}
		}
		return out
	}

	t.Run("request host and route prefix, both paths", func(t *testing.T) {
		gw, _ := gatewayFor(t, "/agents/x", a2agw.Proxy(upstream))
		for _, p := range []string{a2agw.CardPath, a2agw.LegacyCardPath} {
			m := get(t, gw+"/agents/x"+p)
			assert.Equal(t, []string{gw + "/agents/x/rpc?tenant=a", gw + "/agents/x/rpc", gw + "/agents/x/v1"}, urls(m),
				"gRPC interfaces, which would bypass the gateway, are dropped")
		}
	})
	t.Run("forwarded headers only from trusted proxies", func(t *testing.T) {
		fwd := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "agents.example.com", "X-Forwarded-Prefix", "/edge"}
		gw, _ := gatewayFor(t, "/agents/x", a2agw.Proxy(upstream))
		assert.Equal(t, gw+"/agents/x/rpc?tenant=a", get(t, gw+"/agents/x"+a2agw.CardPath, fwd...)["url"])

		loopback := func(a netip.Addr) bool { return a.IsLoopback() }
		gw, _ = gatewayFor(t, "/agents/x", a2agw.Proxy(upstream, a2agw.TrustedProxies(loopback)))
		assert.Equal(t, "https://agents.example.com/edge/agents/x/rpc?tenant=a", get(t, gw+"/agents/x"+a2agw.CardPath, fwd...)["url"])

		// By default the gateway's own trusted proxies are believed.
		gw, _ = gatewayFor(t, "/agents/x", a2agw.Proxy(upstream), agentgateway.WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8")))
		assert.Equal(t, "https://agents.example.com/edge/agents/x/rpc?tenant=a", get(t, gw+"/agents/x"+a2agw.CardPath, fwd...)["url"])
		// A forged host with a path or user info is ignored.
		assert.Equal(t, "https://"+strings.TrimPrefix(gw, "http://")+"/edge/agents/x/rpc?tenant=a",
			get(t, gw+"/agents/x"+a2agw.CardPath, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example/x@y", "X-Forwarded-Prefix", "/edge")["url"])
	})
	t.Run("public URL", func(t *testing.T) {
		gw, _ := gatewayFor(t, "/agents/x", a2agw.Proxy(upstream, a2agw.PublicURL("https://a.example.com/theme")))
		assert.Equal(t, "https://a.example.com/theme/rpc?tenant=a", get(t, gw+"/agents/x"+a2agw.CardPath)["url"])
	})
	t.Run("switched off", func(t *testing.T) {
		gw, _ := gatewayFor(t, "/agents/off", a2agw.Proxy(upstream, a2agw.RewriteCards(false)))
		assert.Equal(t, "http://agent.internal:9999/rpc?tenant=a", get(t, gw+"/agents/off"+a2agw.CardPath)["url"])
	})
	t.Run("bad public URL is a config error", func(t *testing.T) {
		require.Error(t, a2agw.Proxy(upstream, a2agw.PublicURL("ftp://x")).Validate())
	})
}

func TestSignedCards(t *testing.T) {
	card := `{"name":"x","url":"http://agent.internal/","capabilities":{},"skills":[],"signatures":[{"protected":"eyJhbGciOiJFUzI1NiJ9","signature":"c2ln"}]}`
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, card) })

	logs := &logBuffer{}
	gw, _ := gatewayFor(t, "/x", a2agw.Proxy(upstream, a2agw.Logger(slog.New(slog.NewTextHandler(logs, nil)))))
	resp, err := http.Get(gw + "/x" + a2agw.CardPath)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.JSONEq(t, card, string(b), "a signed card passes unchanged by default")
	assert.Contains(t, logs.String(), "agent card is signed")

	gw, _ = gatewayFor(t, "/x", a2agw.Proxy(upstream, a2agw.StripCardSignatures()))
	resp, err = http.Get(gw + "/x" + a2agw.CardPath)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	resp.Body.Close()
	assert.Equal(t, gw+"/x/", m["url"])
	assert.NotContains(t, m, "signatures")
}

// sseUpstream writes n events, one every gap, then stops; it reports when its request ends.
func sseUpstream(n int, gap time.Duration, ended chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"kind\":\"status-update\",\"n\":%d}}\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				ended <- context.Cause(r.Context())
				return
			}
		}
		<-r.Context().Done()
		ended <- context.Cause(r.Context())
	})
}

const streamBody = `{"jsonrpc":"2.0","id":1,"method":"message/stream","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]}}}`

func TestStreamIdleTimeoutNotRequestDeadline(t *testing.T) {
	ended := make(chan error, 1)
	// Five events 50ms apart outlive a 100ms request deadline but never go 300ms silent; after the
	// last one the stream goes quiet and the idle timeout ends it.
	deadline := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 100*time.Millisecond)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	gw := agentgateway.New()
	require.NoError(t, gw.Route("s").PathPrefix("/s").Use(agentgateway.NewPolicy(agentgateway.PhaseTimeout, deadline)).
		To(a2agw.Proxy(sseUpstream(5, 50*time.Millisecond, ended), a2agw.StreamIdleTimeout(300*time.Millisecond))))
	srv := httptest.NewServer(gw)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/s", "application/json", strings.NewReader(streamBody))
	require.NoError(t, err)
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data:") {
			n++
		}
	}
	assert.Equal(t, 5, n, "every event arrives although the stream outlives the request deadline")
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, a2agw.ErrStreamIdle)
	case <-time.After(10 * time.Second):
		t.Fatal("upstream not cancelled")
	}
}

func TestStreamClientDisconnectCancelsUpstream(t *testing.T) {
	ended := make(chan error, 1)
	gw, _ := gatewayFor(t, "/s", a2agw.Proxy(sseUpstream(1000, 20*time.Millisecond, ended)))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw+"/s", strings.NewReader(streamBody))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(line, "data:"), line)
	cancel()
	resp.Body.Close()
	select {
	case err := <-ended:
		assert.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("client disconnect did not cancel the upstream")
	}
}

func TestBridgeErrorsAndUnsupportedMethods(t *testing.T) {
	agent := startGoAgent(t, "go-echo")
	gw, _ := gatewayFor(t, "/b", a2agw.Proxy(agentgateway.HTTP(agent), a2agw.Bridge(a2agw.V03)))

	// The agent's own JSON-RPC errors reach the v1.0 client unchanged.
	_, resp := rpc(t, gw+"/b/rpc", `{"jsonrpc":"2.0","id":9,"method":"GetTask","params":{"id":"no-such-task"}}`, "A2A-Version", "1.0")
	assert.Equal(t, float64(9), resp["id"])
	assert.Equal(t, float64(-32001), resp["error"].(map[string]any)["code"])

	// Methods without a translation are refused rather than sent in the wrong version.
	_, resp = rpc(t, gw+"/b/rpc", `{"jsonrpc":"2.0","id":10,"method":"ListTasks","params":{}}`, "A2A-Version", "1.0")
	assert.Equal(t, float64(a2agw.CodeUnsupportedOperation), resp["error"].(map[string]any)["code"])

	// Clients of the upstream's own version pass straight through.
	_, resp = rpc(t, gw+"/b/rpc", `{"jsonrpc":"2.0","id":11,"method":"tasks/get","params":{"id":"no-such-task"}}`)
	assert.Equal(t, float64(-32001), resp["error"].(map[string]any)["code"])

	require.Error(t, a2agw.Proxy(http.NotFoundHandler(), a2agw.Bridge("2.0")).Validate())
}

// twoEventUpstream streams a "working" status event, then a final "completed" one once next fires.
func twoEventUpstream(t *testing.T, next <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for i, state := range []string{"working", "completed"} {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Second):
					return
				}
			}
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"kind\":\"status-update\",\"taskId\":\"t\",\"contextId\":\"c\",\"status\":{\"state\":%q},\"final\":%v}}\n\n", state, i == 1)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStreamEventByEvent proves events are relayed as they come: the upstream writes its second event
// only after the client has received the first one through the gateway (plain and bridged).
func TestStreamEventByEvent(t *testing.T) {
	next := make(chan struct{})
	upstream := twoEventUpstream(t, next)
	backend := agentgateway.HTTP(upstream.URL)
	defer backend.Close()
	gw, _ := gatewayFor(t, "/s", a2agw.Proxy(backend, a2agw.Bridge(a2agw.V03)))

	for _, tc := range []struct {
		name, body, first, second string
	}{
		{"plain", streamBody, `"state":"working"`, `"state":"completed"`},
		{"bridged", `{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"x"}]}}}`,
			`{"statusUpdate":{"contextId":"c","status":{"state":"TASK_STATE_WORKING"},"taskId":"t"}}`, `"TASK_STATE_COMPLETED"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectEventByEvent(t, gw+"/s/", tc.body, tc.first, tc.second, next)
		})
	}
}

func TestUnreachableAgentGetsJSONRPCError(t *testing.T) {
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := ln.URL
	ln.Close() // nothing listens there any more
	gw, logs := gatewayFor(t, "/a", a2agw.Proxy(agentgateway.HTTP(dead)))
	status, resp := rpc(t, gw+"/a/", `{"jsonrpc":"2.0","id":"q1","method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]}}}`)
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Equal(t, "q1", resp["id"])
	assert.Equal(t, float64(a2agw.CodeUpstream), resp["error"].(map[string]any)["code"])
	assert.Contains(t, logs.String(), `"a2a.method":"message/send"`)
}

// unwrapOnly is a middleware's writer that offers its own writer only through Unwrap, as
// http.ResponseController allows.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// Stream events are flushed to the client even when the writer the proxy is given can flush only
// through Unwrap (they used to sit in net/http's buffer until the stream ended).
func TestStreamFlushesThroughUnwrap(t *testing.T) {
	next := make(chan struct{})
	upstream := twoEventUpstream(t, next)
	backend := agentgateway.HTTP(upstream.URL)
	defer backend.Close()
	proxy := a2agw.Proxy(backend)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(unwrapOnly{w}, r)
	}))
	defer front.Close()

	expectEventByEvent(t, front.URL, streamBody, `"state":"working"`, `"state":"completed"`, next)
}

// expectEventByEvent posts body to url and checks that the event containing first arrives while the
// upstream waits for next to send the one containing second.
func expectEventByEvent(t *testing.T, url, body, first, second string, next chan<- struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a hang guard only
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err, "the first event must arrive before the upstream sends the second")
	assert.Contains(t, line, first)
	next <- struct{}{}
	rest, _ := io.ReadAll(br)
	assert.Contains(t, string(rest), second)
}

// Without a Logger option the proxy logs through the gateway's logger (agentgateway.Provisioner),
// whether it was added as a backend or as the a2a route policy.
func TestProxyLogsThroughTheGateway(t *testing.T) {
	card := `{"name":"x","url":"http://agent.internal/","capabilities":{},"skills":[],"signatures":[{"protected":"eyJhbGciOiJFUzI1NiJ9","signature":"c2ln"}]}`
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, card) })
	for name, add := range map[string]func(*agentgateway.Gateway) error{
		"backend": func(gw *agentgateway.Gateway) error { return gw.Route("x").To(a2agw.Proxy(upstream)) },
		"policy":  func(gw *agentgateway.Gateway) error { return gw.Route("x").Use(a2agw.Wrap()).To(upstream) },
	} {
		logs := &logBuffer{}
		gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.NewTextHandler(logs, nil))), agentgateway.WithAccessLog(false))
		require.NoError(t, add(gw), name)
		srv := httptest.NewServer(gw)
		resp, err := http.Get(srv.URL + a2agw.CardPath)
		require.NoError(t, err, name)
		resp.Body.Close()
		srv.Close()
		assert.Contains(t, logs.String(), "agent card is signed", name)
	}
}
