package mcp

import (
	"context"
	"net/http"
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

// startKeepAlive makes the reply write a keep-alive comment every d until it is done: a client
// that accepts SSE then has the response headers and a live stream while a long call runs. The
// caller calls stopKeepAlive before its handler returns.
func (o *postReply) startKeepAlive(d time.Duration) {
	if d <= 0 || !o.wantSSE {
		return
	}
	o.mu.Lock()
	o.every = d
	o.ka = time.AfterFunc(d, o.keepAlive)
	o.mu.Unlock()
}

func (o *postReply) stopKeepAlive() {
	o.mu.Lock()
	if o.ka != nil {
		o.ka.Stop()
	}
	o.done = true // nothing may be written once the handler has returned
	o.mu.Unlock()
}

func (o *postReply) keepAlive() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.writeComment()
	o.ka.Reset(o.every)
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
func (f *Federation) call(ctx context.Context, sess *session, t *target, up upstream, msg []byte, out reply) error {
	hu, ok := up.(*httpUpstream)
	pr, ok2 := out.(*postReply)
	if !ok || !ok2 {
		resp, err := up.call(ctx, msg, f.relayFrom(sess, t, out.relay))
		if err == nil {
			out.final(resp)
		}
		return err
	}
	sink := streamSink{
		relay: func(id string, m []byte) {
			if m != nil {
				if m = f.adapt(sess, t, m); m == nil {
					return
				}
			}
			if id != "" {
				id = postEventID(t, id)
			}
			if m == nil && id == "" {
				return
			}
			pr.relayID(id, m)
		},
		comment:   pr.comment,
		deliver:   pr.final,
		resumable: pr.resumable,
	}
	return hu.exchange(ctx, msg, &sink)
}
