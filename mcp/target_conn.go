package mcp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// connUpstream runs a session over a go-sdk Connection: stdio processes (CommandTransport),
// in-process servers (in-memory transports) and legacy SSE targets (SSEClientTransport). A single
// stream carries every message, so the gateway renumbers request ids (the client's ids, and its
// own, could collide) and dispatches responses, progress and server→client requests by id and token.
type connUpstream struct {
	t      *target
	conn   sdk.Connection
	closer func() // extra clean-up (the in-process server session)

	mu        sync.Mutex
	next      int64
	pending   map[int64]*pendingCall
	listeners map[int]func([]byte)
	nextL     int
	ver       string
	dead      chan struct{}
	err       error
	closeOnce sync.Once
}

type pendingCall struct {
	clientID jsonrpc.ID
	token    string // the request's progress token, if any
	relay    func([]byte)
	done     chan *jsonrpc.Response
}

const defaultCloseTimeout = 5 * time.Second

func newConnUpstream(t *target, conn sdk.Connection, closer func()) *connUpstream {
	u := &connUpstream{t: t, conn: conn, closer: closer, pending: map[int64]*pendingCall{}, dead: make(chan struct{})}
	go u.readLoop()
	return u
}

func (u *connUpstream) alive() bool {
	select {
	case <-u.dead:
		return false
	default:
		return true
	}
}

func (u *connUpstream) setVersion(v string) { u.mu.Lock(); u.ver = v; u.mu.Unlock() }

func (u *connUpstream) readLoop() {
	for {
		msg, err := u.conn.Read(context.Background())
		if err != nil {
			u.fail(err)
			return
		}
		switch m := msg.(type) {
		case *jsonrpc.Response:
			id, _ := m.ID.Raw().(int64)
			u.mu.Lock()
			p := u.pending[id]
			delete(u.pending, id)
			u.mu.Unlock()
			if p != nil {
				p.done <- m
			}
		case *jsonrpc.Request:
			raw, err := jsonrpc.EncodeMessage(m)
			if err != nil {
				continue
			}
			u.dispatch(m, raw)
		}
	}
}

// dispatch hands a server-initiated message to the call it belongs to, else to the listeners.
func (u *connUpstream) dispatch(m *jsonrpc.Request, raw []byte) {
	u.mu.Lock()
	var target *pendingCall
	switch m.Method {
	case "notifications/progress":
		tok := progressToken(m.Params)
		for _, p := range u.pending {
			if p.token != "" && p.token == tok {
				target = p
				break
			}
		}
	case "notifications/tools/list_changed", "notifications/prompts/list_changed",
		"notifications/resources/list_changed", "notifications/resources/updated":
	default:
		// Logging and server→client requests carry no link to the request that caused them on a
		// plain stream: give them to the most recent call, which is the usual single caller.
		var newest int64 = -1
		for id, p := range u.pending {
			if id > newest && p.relay != nil {
				newest, target = id, p
			}
		}
	}
	var ls []func([]byte)
	if target == nil {
		for _, l := range u.listeners {
			ls = append(ls, l)
		}
	}
	u.mu.Unlock()
	if target != nil {
		if target.relay != nil {
			target.relay(raw)
		}
		return
	}
	for _, l := range ls {
		l(raw)
	}
}

func progressToken(params []byte) string {
	s := field(params, span{0, len(params)}, "_meta", "progressToken")
	if !s.ok() {
		return ""
	}
	return string(s.of(params))
}

func (u *connUpstream) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	pending := u.pending
	u.pending = map[int64]*pendingCall{}
	u.mu.Unlock()
	for _, p := range pending {
		close(p.done)
	}
	u.closeOnce.Do(func() { close(u.dead) })
}

func (u *connUpstream) call(ctx context.Context, msg []byte, relay func([]byte)) ([]byte, error) {
	dm, err := jsonrpc.DecodeMessage(msg)
	if err != nil {
		return nil, err
	}
	req, ok := dm.(*jsonrpc.Request)
	if !ok || !req.ID.IsValid() {
		return nil, fmt.Errorf("mcp: not a request")
	}
	p := &pendingCall{clientID: req.ID, token: progressToken(req.Params), relay: relay, done: make(chan *jsonrpc.Response, 1)}
	u.mu.Lock()
	if !u.alive() {
		u.mu.Unlock()
		return nil, u.deadErr()
	}
	u.next++
	id := u.next
	u.pending[id] = p
	u.mu.Unlock()
	req.ID, _ = jsonrpc.MakeID(float64(id))
	if err := u.conn.Write(ctx, req); err != nil {
		u.mu.Lock()
		delete(u.pending, id)
		u.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: %v", ErrTargetUnavailable, u.t.Name, err)
	}
	select {
	case resp, ok := <-p.done:
		if !ok {
			return nil, u.deadErr()
		}
		resp.ID = p.clientID
		return jsonrpc.EncodeMessage(resp)
	case <-ctx.Done():
		u.mu.Lock()
		delete(u.pending, id)
		u.mu.Unlock()
		cancel := &jsonrpc.Request{Method: "notifications/cancelled", Params: fmt.Appendf(nil, `{"requestId":%d,"reason":"client went away"}`, id)}
		wctx, stop := context.WithTimeout(context.Background(), time.Second)
		_ = u.conn.Write(wctx, cancel)
		stop()
		return nil, ctx.Err()
	}
}

func (u *connUpstream) deadErr() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return fmt.Errorf("%w: %s: connection closed: %v", ErrTargetUnavailable, u.t.Name, u.err)
}

func (u *connUpstream) send(ctx context.Context, msg []byte) error {
	dm, err := jsonrpc.DecodeMessage(msg)
	if err != nil {
		return err
	}
	if req, ok := dm.(*jsonrpc.Request); ok && req.Method == "notifications/cancelled" {
		// The client names its own request id; translate it to the one this stream used.
		cid := field(req.Params, span{0, len(req.Params)}, "requestId")
		if !cid.ok() {
			return nil
		}
		want := string(cid.of(req.Params))
		found := int64(-1)
		u.mu.Lock()
		for id, p := range u.pending {
			if idJSON(p.clientID) == want {
				found = id
			}
		}
		u.mu.Unlock()
		if found < 0 {
			return nil // not in flight here
		}
		req.Params = splice(req.Params, cid, fmt.Appendf(nil, "%d", found))
	}
	if !u.alive() {
		return u.deadErr()
	}
	return u.conn.Write(ctx, dm)
}

func idJSON(id jsonrpc.ID) string {
	switch v := id.Raw().(type) {
	case int64:
		return fmt.Sprint(v)
	case string:
		return string(quoted(v))
	}
	return "null"
}

func (u *connUpstream) listen(ctx context.Context, fn func([]byte)) error {
	u.mu.Lock()
	if u.listeners == nil {
		u.listeners = map[int]func([]byte){}
	}
	id := u.nextL
	u.nextL++
	u.listeners[id] = fn
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.listeners, id)
		u.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return nil
	case <-u.dead:
		return u.deadErr()
	}
}

func (u *connUpstream) release() { u.close() }

func (u *connUpstream) close() {
	_ = u.conn.Close()
	if u.closer != nil {
		u.closer()
	}
	select {
	case <-u.dead:
	case <-time.After(defaultCloseTimeout + time.Second):
	}
}

// dial opens a fresh Connection to a connection-based target.
func (f *Federation) dial(ctx context.Context, t *target) (upstream, error) {
	switch t.Transport {
	case TransportHTTP:
		return &httpUpstream{t: t}, nil
	case TransportServer:
		ct, st := sdk.NewInMemoryTransports()
		ctx = context.WithoutCancel(ctx) // the session outlives the request that opened it
		ss, err := t.Server.Connect(ctx, st, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrTargetUnavailable, t.Name, err)
		}
		conn, err := ct.Connect(ctx)
		if err != nil {
			_ = ss.Close()
			return nil, fmt.Errorf("%w: %s: %v", ErrTargetUnavailable, t.Name, err)
		}
		up := newConnUpstream(t, conn, func() { _ = ss.Close() })
		if t.openapi != nil {
			return &openAPIUpstream{connUpstream: up, calls: &t.openapi.calls}, nil
		}
		return up, nil
	case TransportStdio:
		return f.dialStdio(ctx, t)
	case TransportSSE:
		return f.dialSSE(ctx, t)
	}
	return nil, errors.New("mcp: unknown transport")
}
