package agentgateway_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

type ctxKey struct{}

// recordingObserver records what it saw at Start and End.
type recordingObserver struct {
	name   string
	events *[]string
	ends   []agentgateway.State
}

func (o *recordingObserver) Start(ctx context.Context, r *http.Request, st *agentgateway.State) context.Context {
	*o.events = append(*o.events, o.name+".start")
	if agentgateway.StateFrom(ctx) != st {
		panic("Start must see the request's State in ctx")
	}
	return context.WithValue(ctx, ctxKey{}, o.name)
}

func (o *recordingObserver) End(ctx context.Context, r *http.Request, st *agentgateway.State) {
	*o.events = append(*o.events, o.name+".end:"+ctx.Value(ctxKey{}).(string))
	o.ends = append(o.ends, *st)
}

func TestObserversSeeEveryRequest(t *testing.T) {
	var events []string
	a := &recordingObserver{name: "a", events: &events}
	b := &recordingObserver{name: "b", events: &events}
	gw := agentgateway.New(quiet(), agentgateway.WithObserver(a, b))
	var seenByBackend any
	require.NoError(t, gw.Route("r").PathPrefix("/r").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenByBackend = r.Context().Value(ctxKey{})
		agentgateway.StateFrom(r.Context()).MCP.Method = "tools/call"
		w.WriteHeader(http.StatusAccepted)
	})))
	serve(t, gw, "GET", "/r/x")
	require.Equal(t, "b", seenByBackend, "the context Start returned reaches the backend")
	require.Equal(t, []string{"a.start", "b.start", "b.end:b", "a.end:b"}, events)
	require.Len(t, b.ends, 1)
	require.Equal(t, "r", b.ends[0].Route)
	require.Equal(t, http.StatusAccepted, b.ends[0].Status)
	require.Equal(t, "tools/call", b.ends[0].MCP.Method)

	// Unrouted and panicking requests are observed too.
	events = nil
	serve(t, gw, "GET", "/nowhere")
	require.Equal(t, http.StatusNotFound, b.ends[1].Status)
	require.NoError(t, gw.Route("boom").PathPrefix("/boom").To(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	w := serve(t, gw, "GET", "/boom")
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.ErrorContains(t, b.ends[2].Err, "panic: boom")
}

func TestAccessLogIsAnObserver(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithObserver(agentgateway.AccessLog(l)))
	require.NoError(t, gw.Route("r").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agentgateway.StateFrom(r.Context()).A2A = agentgateway.A2AState{Method: "message/send", TaskID: "t1"}
	})))
	serve(t, gw, "GET", "/")
	require.Contains(t, buf.String(), "route=r")
	require.Contains(t, buf.String(), "a2a.method=message/send a2a.task.id=t1")
	require.Equal(t, 1, strings.Count(buf.String(), "\n"))
}

// provisioned is a backend and a policy that ask for the gateway's services and own a resource.
type provisioned struct {
	svc    agentgateway.Services
	n      atomic.Int32
	closed atomic.Int32
}

func (p *provisioned) Provision(s agentgateway.Services) error { p.svc = s; p.n.Add(1); return nil }
func (p *provisioned) Close() error                            { p.closed.Add(1); return nil }
func (p *provisioned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.svc.Logger.Info("served by backend")
}
func (p *provisioned) Wrap(next http.Handler) http.Handler { return next }

// Backends and policies built in Go get the gateway's services, and are closed once a configuration
// without them has been applied and drained: the fluent path has the lifecycle of the config path.
func TestServicesAndLifecycleOnTheFluentPath(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	gw := agentgateway.New(agentgateway.WithLogger(logger), agentgateway.WithAccessLog(false),
		agentgateway.WithDrainTimeout(time.Second))
	be, pol := &provisioned{}, &provisioned{}
	require.NoError(t, gw.Route("r").Use(pol).To(be))
	serve(t, gw, "GET", "/")
	require.Contains(t, buf.String(), "served by backend", "the backend logs through the gateway's logger")
	require.Same(t, logger, pol.svc.Logger)
	require.NotNil(t, gw.Services().Tracer("x"), "a no-op tracer when none is configured")

	require.NoError(t, gw.Apply(routeTo("other", named("other"))))
	require.Eventually(t, func() bool { return be.closed.Load() == 1 && pol.closed.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestProvisionErrorRejectsTheConfig(t *testing.T) {
	gw := agentgateway.New(quiet())
	err := gw.Route("r").To(failingProvision{})
	require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorContains(t, err, "backends[0]")
}

type failingProvision struct{ http.Handler }

func (failingProvision) Provision(agentgateway.Services) error { return io.ErrUnexpectedEOF }

// inspecting is a backend that describes the request before policies run.
type inspecting struct{ http.Handler }

func (inspecting) Inspect(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if r.Header.Get("X-Bad") != "" {
		http.Error(w, "bad call", http.StatusBadRequest)
		return nil, false
	}
	agentgateway.StateFrom(r.Context()).MCP.ToolName = r.Header.Get("X-Tool")
	return r, true
}

// The backend's inspector runs before the route's policies, so authorization can read what it found.
func TestInspectorRunsBeforePolicies(t *testing.T) {
	gw := agentgateway.New(quiet())
	authz := agentgateway.NewPolicy(agentgateway.PhaseAuthz, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if agentgateway.StateFrom(r.Context()).MCP.ToolName != "allowed" {
				http.Error(w, "denied", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	require.NoError(t, gw.Route("r").Use(authz).To(inspecting{named("backend")}))
	require.Equal(t, "backend", serve(t, gw, "GET", "/", "X-Tool", "allowed").Body.String())
	require.Equal(t, http.StatusForbidden, serve(t, gw, "GET", "/", "X-Tool", "other").Code)
	require.Equal(t, http.StatusBadRequest, serve(t, gw, "GET", "/", "X-Tool", "allowed", "X-Bad", "1").Code)
}
