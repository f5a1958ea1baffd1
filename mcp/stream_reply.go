package mcp

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// DefaultSSEKeepAlive is how often the gateway writes a keep-alive comment on an SSE stream to a
// client that has had nothing else: load balancers commonly cut connections idle for 60 s, so a
// long tool call, or a quiet GET stream, would otherwise be cut.
const DefaultSSEKeepAlive = 15 * time.Second

// keepAliveLine is the SSE comment the gateway writes on idle streams (clients ignore it).
var keepAliveLine = []byte(": keep-alive\n\n")

// keepAliveEvery is the configured keep-alive interval, 0 when disabled.
func (f *Federation) keepAliveEvery() time.Duration {
	switch {
	case f.cfg.SSEKeepAlive < 0:
		return 0
	case f.cfg.SSEKeepAlive == 0:
		return DefaultSSEKeepAlive
	}
	return f.cfg.SSEKeepAlive
}

// keepAlives writes the keep-alive comments of the POST answers in progress: one goroutine per
// federation, started on first use, rather than a timer per call. Replies are linked into a list
// while they run (no allocation); each tick (every half interval) writes to those that have waited a
// whole interval since they started or since their last keep-alive.
type keepAlives struct {
	mu   sync.Mutex
	head *postReply
	tick uint64
	once sync.Once
}

// watchReply registers a POST answer for keep-alives until unwatchReply; it does nothing when
// keep-alives are off or the client does not accept SSE.
func (f *Federation) watchReply(o *postReply) {
	every := f.keepAliveEvery()
	if every <= 0 || !o.wantSSE {
		return
	}
	k := &f.keepAlives
	k.once.Do(func() {
		f.wg.Add(1)
		go f.keepAliveLoop(every)
	})
	k.mu.Lock()
	o.kaTick, o.kaOn = k.tick, true
	o.kaNext = k.head
	if k.head != nil {
		k.head.kaPrev = o
	}
	k.head = o
	k.mu.Unlock()
}

// unwatchReply ends the reply's keep-alives; after it nothing more is written by them.
func (f *Federation) unwatchReply(o *postReply) {
	if o.kaOn {
		k := &f.keepAlives
		k.mu.Lock()
		if o.kaPrev != nil {
			o.kaPrev.kaNext = o.kaNext
		} else {
			k.head = o.kaNext
		}
		if o.kaNext != nil {
			o.kaNext.kaPrev = o.kaPrev
		}
		o.kaPrev, o.kaNext, o.kaOn = nil, nil, false
		k.mu.Unlock()
	}
	o.mu.Lock()
	o.done = true // the handler returns: nothing may be written any more
	o.mu.Unlock()
}

func (f *Federation) keepAliveLoop(every time.Duration) {
	defer f.wg.Done()
	tk := time.NewTicker(max(every/2, time.Millisecond))
	defer tk.Stop()
	k := &f.keepAlives
	var due []*postReply
	for {
		select {
		case <-f.done:
			return
		case <-tk.C:
		}
		k.mu.Lock()
		k.tick++
		for o := k.head; o != nil; o = o.kaNext {
			if k.tick-o.kaTick >= 2 {
				o.kaTick = k.tick
				due = append(due, o)
			}
		}
		k.mu.Unlock()
		// Written outside the list's lock: a slow client holds up only the keep-alives.
		for i, o := range due {
			o.keepAlive()
			due[i] = nil
		}
		due = due[:0]
	}
}

func (o *postReply) keepAlive() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		o.writeComment()
	}
}

// comment passes on a keep-alive comment of the target's stream.
func (o *postReply) comment() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done && o.wantSSE {
		o.writeComment()
	}
}

func (o *postReply) writeComment() {
	if !o.sse {
		o.startSSE()
	}
	_, _ = o.w.Write(keepAliveLine)
	_ = http.NewResponseController(o.w).Flush()
}

// relayID sends an intermediate message under an event id (see eventID) that lets the client
// resume the stream; msg nil is the target's priming event, which carries only the id. It tells
// the client how to resume a broken stream, so it starts the SSE answer.
func (o *postReply) relayID(id string, msg []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done || !o.wantSSE {
		return
	}
	if !o.sse {
		o.startSSE()
	}
	if id != "" {
		o.gaveID = true
	}
	writeEventID(o.w, id, msg)
}

// resumable reports whether the client was given an event id to resume the stream with.
func (o *postReply) resumable() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gaveID
}

// writeEventID writes one SSE message event with an id line (none when id is "") and flushes it;
// msg nil writes an event with the id alone.
func writeEventID(w http.ResponseWriter, id string, msg []byte) {
	if id != "" {
		_, _ = w.Write(idPrefix)
		_, _ = w.Write([]byte(id))
		_, _ = w.Write(newline)
	}
	if msg == nil {
		_, _ = w.Write(emptyData)
		_ = http.NewResponseController(w).Flush()
		return
	}
	writeEvent(w, msg)
}

var (
	idPrefix  = []byte("id: ")
	newline   = []byte("\n")
	emptyData = []byte("data: \n\n")
)

// call sends a client's request to one target and answers it through out. A streamable HTTP target
// answering a POST in SSE gets its stream passed on: event ids (so the client can resume it through
// the gateway), keep-alive comments, and the response as soon as it arrives.
// It returns the response it passed on (for telemetry).
func (f *Federation) call(ctx context.Context, sess *session, t *target, up upstream, msg []byte, out reply) ([]byte, error) {
	hu, ok := up.(*httpUpstream)
	pr, ok2 := out.(*postReply)
	if !ok || !ok2 {
		resp, err := up.call(ctx, msg, f.relayFrom(sess, t, out.relay))
		if err == nil {
			out.final(resp)
		}
		return resp, err
	}
	var resp []byte
	sink := streamSink{
		relay: func(id string, m []byte) {
			if m != nil {
				if m = f.adapt(sess, t, m); m == nil {
					return
				}
			}
			switch {
			case f.cfg.Stateless:
				id = "" // no GET to resume with: the stream is not resumable
			case id != "":
				id = postEventID(t, id)
			}
			if m == nil && id == "" {
				return
			}
			pr.relayID(id, m)
		},
		comment: pr.comment,
		// Flushed: the client has its response while the gateway reads the rest of the stream.
		deliver: func(m []byte) {
			resp = m
			pr.final(m)
			_ = http.NewResponseController(pr.w).Flush()
		},
		resumable: pr.resumable,
	}
	err := hu.exchange(ctx, msg, &sink)
	return resp, err
}
