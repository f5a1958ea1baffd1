package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// serveGet opens the client's standalone stream: server-initiated messages of every target, merged.
func (f *Federation) serveGet(w http.ResponseWriter, r *http.Request) {
	if f.cfg.Stateless {
		w.Header().Set("Allow", "POST")
		agentgateway.WriteError(w, http.StatusMethodNotAllowed, "stateless MCP endpoint: no GET stream")
		return
	}
	if !accepts(r.Header.Get("Accept"), "text/event-stream") {
		agentgateway.WriteError(w, http.StatusNotAcceptable, "Accept must allow text/event-stream")
		return
	}
	sid, sess, ok := f.sessionOf(w, r)
	if !ok {
		return
	}
	if st := agentgateway.StateFrom(r.Context()); st != nil {
		st.MCP.SessionID = sid
	}
	// A client resuming a broken stream names the last event it got (see resume.go).
	var resumeIDs []string
	if lei := r.Header.Get("Last-Event-Id"); lei != "" {
		ids, get, err := f.parseEventID(lei)
		if err != nil {
			writeHTTPError(w, http.StatusBadRequest, nil, codeInvalidRequest, err.Error())
			return
		}
		if !get {
			f.serveResumedPost(w, r, sess, ids)
			return
		}
		resumeIDs = ids
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(sess.ctx, cancel)
	defer stop()
	sess.streams.Add(1)
	defer func() { sess.streams.Add(-1); sess.touch() }()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if primes(sess.version) {
		// A priming event (SEP-1699): an id the client can resume from before any message, fresh on
		// every (re)connection, so that a client whose stream a config reload or a proxy cut counts
		// the reconnection as progress instead of giving the session up.
		writeEventID(w, getEventID(f.targets, resumeIDs)+primeSuffix(), nil)
	}
	_ = http.NewResponseController(w).Flush()

	var mu sync.Mutex
	done := false
	write := func(msg []byte) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			writeEvent(w, msg)
			sess.touch()
		}
	}
	// Each event carries every target's last event id, so that a resumed stream resumes each target.
	cursor := make([]string, len(f.targets))
	if resumeIDs != nil {
		copy(cursor, resumeIDs)
	}
	writeID := func(t *target, id string, msg []byte) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		gid := ""
		if id != "" {
			cursor[t.idx] = id
			gid = getEventID(f.targets, cursor)
		}
		if msg != nil || gid != "" {
			writeEventID(w, gid, msg)
			sess.touch()
		}
	}
	cctx := withClientAuth(ctx, r.Header.Get("Authorization"))
	var wg sync.WaitGroup
	for _, t := range f.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up, err := sess.upstream(cctx, t)
			if err != nil {
				f.logger().Debug("mcp: GET stream: target unavailable", "target", t.Name, "error", err)
				return
			}
			if hu, ok := up.(*httpUpstream); ok {
				var last string
				if resumeIDs != nil {
					last = resumeIDs[t.idx]
				}
				relay := func(id string, msg []byte) {
					if msg != nil {
						if msg = f.adapt(sess, t, msg); msg == nil {
							return
						}
					}
					writeID(t, id, msg)
				}
				err = hu.listenFrom(cctx, last, relay)
				if err != nil && last != "" && ctx.Err() == nil {
					// The target cannot resume its stream (its events expired, say): a new one.
					f.logger().Debug("mcp: GET stream of target not resumed", "target", t.Name, "error", err)
					err = hu.listenFrom(cctx, "", relay)
				}
			} else {
				err = up.listen(cctx, f.relayFrom(sess, t, write))
			}
			if err != nil && ctx.Err() == nil {
				f.logger().Debug("mcp: GET stream from target ended", "target", t.Name, "error", err)
			}
		}()
	}
	if every := f.keepAliveEvery(); every > 0 {
		tk := time.NewTicker(every)
	wait:
		for {
			select {
			case <-ctx.Done():
				break wait
			case <-tk.C:
				mu.Lock()
				_, _ = w.Write(keepAliveLine)
				_ = http.NewResponseController(w).Flush()
				mu.Unlock()
			}
		}
		tk.Stop()
	} else {
		<-ctx.Done()
	}
	mu.Lock()
	done = true
	mu.Unlock()
	wg.Wait()
}

// serveDelete ends a session: upstream sessions are deleted and processes stopped.
func (f *Federation) serveDelete(w http.ResponseWriter, r *http.Request) {
	if f.cfg.Stateless {
		w.Header().Set("Allow", "POST")
		agentgateway.WriteError(w, http.StatusMethodNotAllowed, "stateless MCP endpoint: no sessions")
		return
	}
	_, sess, ok := f.sessionOf(w, r)
	if !ok {
		return
	}
	// Recorded as ended (see SessionStore), so the id answers 404 from now on, after a reload too.
	if f.endSession(sess) {
		sess.close()
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveLegacyStream serves the HTTP+SSE transport (2024-11-05): the GET stream first names the
// endpoint for POSTs, then carries every message of the session, responses included.
func (f *Federation) serveLegacyStream(w http.ResponseWriter, r *http.Request) {
	if f.cfg.Stateless {
		agentgateway.WriteError(w, http.StatusMethodNotAllowed, "stateless MCP endpoint: no SSE sessions")
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	sess := f.newSession(LatestProtocolVersion, nil)
	id := "sse-" + hex.EncodeToString(b[:])
	sess.key = digestID(id)
	ch := make(chan []byte, 64)
	sess.legacy, sess.isLegacy = ch, true
	f.sessions.put(sess)
	sess.streams.Add(1) // the open stream keeps the session from expiring
	defer func() {
		f.sessions.remove(sess)
		sess.close()
	}()
	if st := agentgateway.StateFrom(r.Context()); st != nil {
		st.MCP.SessionID = id
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("event: endpoint\ndata: " + r.URL.Path + "?sessionId=" + id + "\n\n"))
	_ = http.NewResponseController(w).Flush()
	var tick <-chan time.Time
	if every := f.keepAliveEvery(); every > 0 {
		tk := time.NewTicker(every)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case msg, ok := <-ch:
			if !ok {
				return
			}
			writeEvent(w, msg)
		case <-tick:
			_, _ = w.Write(keepAliveLine)
			_ = http.NewResponseController(w).Flush()
		case <-r.Context().Done():
			return
		case <-sess.ctx.Done():
			return
		}
	}
}

// legacyReply sends a legacy session's messages down its SSE stream.
type legacyReply struct{ s *session }

func (l legacyReply) relay(msg []byte) { l.s.sendLegacy(msg) }
func (l legacyReply) final(msg []byte) { l.s.sendLegacy(msg) }

func (s *session) sendLegacy(msg []byte) {
	s.mu.Lock()
	ch := s.legacy
	s.mu.Unlock()
	if ch == nil {
		return
	}
	defer func() { _ = recover() }() // the stream closed while we were sending
	select {
	case ch <- msg:
	case <-s.ctx.Done():
	}
}

// serveLegacyPost takes one message of a legacy session; the answer goes down the SSE stream.
func (f *Federation) serveLegacyPost(w http.ResponseWriter, r *http.Request, id string) {
	s := f.sessions.get(digestID(id))
	if s == nil || !s.isLegacy {
		agentgateway.WriteError(w, http.StatusNotFound, "session not found")
		return
	}
	body, err := readBody(w, r, f.cfg.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			agentgateway.WriteError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		agentgateway.WriteError(w, http.StatusBadRequest, "reading body")
		return
	}
	env, err := parseEnvelope(body)
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadRequest, "invalid JSON-RPC message")
		return
	}
	s.touch()
	st := agentgateway.StateFrom(r.Context())
	if st != nil {
		st.MCP.Method, st.MCP.SessionID = env.method, id
	}
	// The answer is produced after this POST returns (a tool call may wait for the client's answer to
	// a sampling request, sent on another POST), so it works on copies of the request's state.
	var st2 agentgateway.State
	if st != nil {
		st2 = *st
	}
	st2.MCP.Method, st2.MCP.SessionID = env.method, id
	ctx, cancel := context.WithCancel(agentgateway.WithState(context.WithoutCancel(r.Context()), &st2))
	stop := context.AfterFunc(s.ctx, cancel)
	ctx = withClientAuth(ctx, r.Header.Get("Authorization"))
	r2 := r.WithContext(ctx)
	w.WriteHeader(http.StatusAccepted)
	go func() {
		defer cancel()
		defer stop()
		out := legacyReply{s}
		switch {
		case env.method == "initialize" && env.isRequest():
			f.initialize(ctx, r2, &st2, env, body, s, out)
		case env.isResponse():
			_ = f.routeResponse(ctx, s, env, body)
		case env.isNotification():
			f.notify(ctx, s, env, body)
		default:
			_ = f.dispatch(ctx, r2, &st2, s, env, body, out)
		}
	}()
}

// pumpLegacy relays server-initiated messages of every target into a legacy session's stream.
func (f *Federation) pumpLegacy(s *session) {
	var wg sync.WaitGroup
	for _, t := range f.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up, err := s.upstream(s.ctx, t)
			if err != nil {
				return
			}
			_ = up.listen(s.ctx, f.relayFrom(s, t, s.sendLegacy))
		}()
	}
	wg.Wait()
}

// sessionOf finds the session a GET or DELETE names, answering 400 without a session id and 404 for
// an unknown one, as the streamable HTTP transport specifies.
func (f *Federation) sessionOf(w http.ResponseWriter, r *http.Request) (string, *session, bool) {
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		writeHTTPError(w, http.StatusBadRequest, nil, codeInvalidRequest, "Bad Request: missing Mcp-Session-Id header")
		return "", nil, false
	}
	sess, ok := f.lookup(sid)
	if !ok {
		writeHTTPError(w, http.StatusNotFound, nil, codeInvalidRequest, "session not found")
		return "", nil, false
	}
	return sid, sess, true
}
