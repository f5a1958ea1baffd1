package mcp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
)

// After the response event of an SSE answer, the gateway reads the rest of the stream (normally
// just the end of the chunked body) so that the upstream connection goes back to the pool instead
// of being closed. A target that keeps streaming after its response gets at most this much.
const (
	drainLimit       = 64 << 10
	defaultDrainWait = 100 * time.Millisecond
)

// drainWait is the time bound of the drain (nanoseconds): defaultDrainWait, or what a test on a
// loaded machine sets.
var drainWait atomic.Int64

func init() { drainWait.Store(int64(defaultDrainWait)) }

// streamSink receives what a target sends while answering one request.
type streamSink struct {
	// relay takes an intermediate message (progress, logging, a server→client request) with its
	// SSE event id at the target ("" when the target gave none); msg nil is a priming event that
	// carries only an id. Optional.
	relay func(id string, msg []byte)
	// comment is called for each keep-alive comment on the target's stream. Optional.
	comment func()
	// deliver takes the response. It is called before the rest of the stream is drained, so the
	// client is not kept waiting for the target to end its stream.
	deliver func(msg []byte)
	// resumable reports whether the client can resume the stream (it was given an event id): then a
	// client that goes away is not taken to have cancelled, as the transport specifies. Optional.
	resumable func() bool
}

// exchange sends a request to the target and passes its answer to sink. When the client goes
// away first (ctx ends) the target is told with notifications/cancelled, so that the tool does not
// keep running for nobody: a streamable HTTP server detaches its handlers from the POST.
func (u *httpUpstream) exchange(ctx context.Context, msg []byte, sink *streamSink) error {
	cctx, cancel := ctx, context.CancelFunc(nil)
	if _, h1 := u.t.client(); h1 == nil {
		// net/http's bodies have no read deadline: cancelling the request bounds the drain of the
		// stream after the response instead (the built-in client's bodies do have one).
		cctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	err := u.exchangeCtx(cctx, cancel, msg, sink)
	if err != nil && ctx.Err() != nil && (sink.resumable == nil || !sink.resumable()) {
		u.cancelUpstream(ctx, msg)
	}
	return err
}

func (u *httpUpstream) exchangeCtx(ctx context.Context, cancel context.CancelFunc, msg []byte, sink *streamSink) error {
	resp, err := u.roundTrip(ctx, http.MethodPost, u.headers(ctx, true), msg)
	if err != nil {
		return err
	}
	if u.capture {
		u.sid = resp.Header.Get("Mcp-Session-Id")
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return fmt.Errorf("%w: %s: HTTP %d: %s", ErrTargetUnavailable, u.t.Name, resp.StatusCode, bytes.TrimSpace(b))
	}
	if ct := resp.Header.Get("Content-Type"); len(ct) >= 17 && strings.EqualFold(ct[:17], "text/event-stream") {
		return u.readStream(ctx, cancel, resp.Body, sink)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamMessage))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrTargetUnavailable, u.t.Name, err)
	}
	// The body goes to the client as is: it must read as one response there too.
	env, err := parseEnvelope(body)
	if err == nil && !env.isResponse() {
		err = errors.New("not a response")
	}
	if err != nil {
		return fmt.Errorf("%w: %s: invalid JSON-RPC response: %w", ErrTargetUnavailable, u.t.Name, err)
	}
	sink.deliver(body)
	return nil
}

// readStream relays an SSE answer until the response arrives. When the target closes the stream
// before answering (SEP-1699 polling), the gateway resumes it with a GET carrying Last-Event-ID, so
// the client's stream stays open and never sees the gap.
func (u *httpUpstream) readStream(ctx context.Context, cancel context.CancelFunc, body io.ReadCloser, sink *streamSink) error {
	br := getSSEReader(nil)
	defer putSSEReader(br)
	var er eofReader
	for attempt := 0; ; attempt++ {
		var final []byte
		er = eofReader{r: body}
		br.Reset(&er)
		lastID, err := readSSEFrom(br, func(ev sseEvent) bool {
			if ev.comment {
				if sink.comment != nil {
					sink.comment()
				}
				return true
			}
			if len(ev.data) == 0 {
				if ev.id != "" && sink.relay != nil {
					sink.relay(ev.id, nil) // priming event: the id to resume the stream from
				}
				return true
			}
			env, perr := parseEnvelope(ev.data)
			if perr == nil && env.isResponse() {
				final = ev.data
				return false
			}
			if sink.relay != nil {
				sink.relay(ev.id, ev.data)
			}
			return true
		})
		if final != nil {
			sink.deliver(final)
			if er.eof {
				// The stream ended with the response (more than half the answers of a go-sdk
				// server): the connection is released at once, without the drain's read deadline,
				// whose timer cost a netpoller wake-up per call. Events after the response are
				// dropped, as the drain drops them.
				body.Close()
			} else {
				drainStream(br, body, cancel)
			}
			return nil
		}
		body.Close()
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %s: %v", ErrTargetUnavailable, u.t.Name, err)
		}
		if lastID == "" || attempt >= 5 || ctx.Err() != nil {
			return fmt.Errorf("%w: %s: stream ended before the response", ErrTargetUnavailable, u.t.Name)
		}
		h := u.headers(ctx, false)
		h["Last-Event-Id"] = []string{lastID}
		resp, err := u.roundTrip(ctx, http.MethodGet, h, nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			drain(resp)
			return fmt.Errorf("%w: %s: resuming stream: HTTP %d", ErrTargetUnavailable, u.t.Name, resp.StatusCode)
		}
		body = resp.Body
	}
}

// drainStream reads what follows the response on an SSE stream (drainLimit bytes, drainWait at
// most) and closes it; read to its end, the stream's connection is reused. The wait is bounded by a
// read deadline where the body has one (the built-in HTTP/1.1 client's: no timer or context per
// call), else by cancel, which aborts the request; with neither the body is closed unread.
// br is the reader the stream was read through (what it holds is part of the rest).
func drainStream(br *bufio.Reader, body io.ReadCloser, cancel context.CancelFunc) {
	defer body.Close()
	if d, ok := body.(interface{ SetReadDeadline(time.Time) error }); ok && d.SetReadDeadline(time.Now().Add(time.Duration(drainWait.Load()))) == nil {
		if discardAll(br) {
			_ = d.SetReadDeadline(time.Time{})
		}
		return
	}
	if cancel != nil {
		t := time.AfterFunc(time.Duration(drainWait.Load()), cancel)
		discardAll(br)
		t.Stop()
	}
}

// discardAll reads br to its end, drainLimit bytes at most; it reports whether it got there.
func discardAll(br *bufio.Reader) bool {
	for n := 0; n <= drainLimit; {
		k, err := br.Discard(br.Size())
		n += k
		if err != nil {
			return err == io.EOF
		}
	}
	return false
}

// eofReader notes whether its reader has reported the end of the stream.
type eofReader struct {
	r   io.Reader
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

// sseReaders recycles the buffers SSE streams are read through (one per call otherwise).
var sseReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func getSSEReader(r io.Reader) *bufio.Reader {
	br := sseReaders.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putSSEReader(br *bufio.Reader) {
	br.Reset(nil)
	sseReaders.Put(br)
}

// cancelUpstream tells the target that the client no longer waits for the request msg.
func (u *httpUpstream) cancelUpstream(ctx context.Context, msg []byte) {
	env, err := parseEnvelope(msg)
	if err != nil || !env.id.ok() {
		return
	}
	params := make([]byte, 0, 64)
	params = append(params, `{"requestId":`...)
	params = append(params, env.id.of(msg)...)
	params = append(params, `,"reason":"client disconnected"}`...)
	sctx, stop := context.WithTimeout(context.WithoutCancel(ctx), defaultCloseTimeout)
	defer stop()
	_ = u.send(sctx, rpcmsg.Request(nil, "notifications/cancelled", params)) // best effort: the target may be gone too
}
