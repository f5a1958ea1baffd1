package mcp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// The gateway relays a target's SSE events under ids that name the target and the event's id
// there, so that a client resuming a broken stream with Last-Event-ID (streamable HTTP,
// "resumability and redelivery") is resumed at the right target from the right place:
//
//	a POST's stream (one target):   <target>/<base64url of the target's id>
//	the GET stream (every target):  +<target>/<base64url>[+<target>/<base64url>...]
//
// the GET stream's id carries the last id of each target that gave one. Target names contain
// neither '/' nor '+', and base64url neither, so the ids split unambiguously.

// errBadEventID is the error of a Last-Event-ID the gateway did not issue.
var errBadEventID = errors.New("mcp: malformed Last-Event-ID")

var b64 = base64.RawURLEncoding

// postEventID is the id of an event of t's answer to a POST.
func postEventID(t *target, id string) string {
	return t.Name + "/" + b64.EncodeToString([]byte(id))
}

// getEventID is the GET stream's id after an event: ids holds each target's last id ("" none).
func getEventID(targets []*target, ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if id != "" {
			b.WriteByte('+')
			b.WriteString(targets[i].Name)
			b.WriteByte('/')
			b.WriteString(b64.EncodeToString([]byte(id)))
		}
	}
	return b.String()
}

// primes reports whether a client at protocol version v expects priming events (2025-11-25 up to the
// session-less 2026-07-28, which has no resumable streams).
func primes(v string) bool { return v >= "2025-11-25" && v < "2026-07-28" }

// primeCount makes every priming event's id unique within the process.
var primeCount atomic.Uint64

// primeSuffix is the part of a priming event's id that only makes it fresh: "+~" and a counter.
// parseEventID ignores it.
func primeSuffix() string {
	return "+~" + strconv.FormatUint(primeCount.Add(1), 36)
}

// parseEventID reads an id the gateway issued: the target ids it names, indexed like f.targets,
// and whether it is the GET stream's.
func (f *Federation) parseEventID(s string) (ids []string, get bool, err error) {
	if rest, ok := strings.CutPrefix(s, "+"); ok {
		s, get = rest, true
	}
	ids = make([]string, len(f.targets))
	n := 0
	for part := range strings.SplitSeq(s, "+") {
		if rest, ok := strings.CutPrefix(part, "~"); ok && get && rest != "" && !strings.Contains(rest, "/") {
			continue // a priming event's freshness counter
		}
		name, enc, ok := strings.Cut(part, "/")
		t := f.byName[name]
		if !ok || t == nil {
			return nil, false, fmt.Errorf("%w: %q names no target", errBadEventID, s)
		}
		id, err := b64.DecodeString(enc)
		if err != nil || len(id) == 0 || ids[t.idx] != "" || strings.ContainsAny(string(id), "\x00\r\n") {
			return nil, false, fmt.Errorf("%w: %q", errBadEventID, s)
		}
		ids[t.idx] = string(id)
		n++
	}
	if !get && n != 1 {
		return nil, false, fmt.Errorf("%w: %q", errBadEventID, s)
	}
	return ids, get, nil
}

// openStream opens a GET stream at the target, resuming after lastID when it is set.
func (u *httpUpstream) openStream(ctx context.Context, lastID string) (*http.Response, error) {
	h := u.headers(ctx, false)
	if lastID != "" {
		h["Last-Event-Id"] = []string{lastID}
	}
	return u.roundTrip(ctx, http.MethodGet, h, nil)
}

// resumeConflictWait bounds how long a resumption waits for the target to let go of the stream.
const resumeConflictWait = 2 * time.Second

// resumeStream opens the GET that resumes a POST's stream after lastID. A target answers 409 while
// the stream is still held by the request that carried it: the gateway's own upstream POST, which
// it abandoned when the client's stream broke but which the target may not have noticed yet. The
// gateway knows that request is gone, so it retries with back-off for a short while instead of
// handing the client a conflict of its own making.
func (u *httpUpstream) resumeStream(ctx context.Context, lastID string) (*http.Response, error) {
	deadline := time.Now().Add(resumeConflictWait)
	delay := 5 * time.Millisecond
	for {
		resp, err := u.openStream(ctx, lastID)
		if err != nil || resp.StatusCode != http.StatusConflict || time.Now().Add(delay).After(deadline) {
			return resp, err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// listenFrom is listen resuming after lastID ("" for a new stream), with each message's event id
// (msg nil for an event with an id alone).
func (u *httpUpstream) listenFrom(ctx context.Context, lastID string, fn func(id string, msg []byte)) error {
	resp, err := u.openStream(ctx, lastID)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if lastID != "" {
			return fmt.Errorf("%w: %s: resuming the GET stream: HTTP %d", ErrTargetUnavailable, u.t.Name, resp.StatusCode)
		}
		return nil // the target has no GET stream (405): nothing to merge
	}
	_, err = readSSE(resp.Body, func(ev sseEvent) bool {
		if !ev.comment && (len(ev.data) > 0 || ev.id != "") {
			fn(ev.id, ev.data)
		}
		return true
	})
	return err
}

// serveResumedPost continues a POST's stream that broke: the client's GET carries the id of the
// last event it got, which names the target and its own event id; the target replays what
// followed and goes on to the response.
func (f *Federation) serveResumedPost(w http.ResponseWriter, r *http.Request, sess *session, ids []string) {
	var t *target
	for i, id := range ids {
		if id != "" {
			t = f.targets[i]
		}
	}
	ctx := withClientAuth(r.Context(), r.Header.Get("Authorization"))
	up, err := sess.upstream(ctx, t)
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, "target "+t.Name+" unavailable")
		return
	}
	hu, ok := up.(*httpUpstream)
	if !ok {
		writeHTTPError(w, http.StatusBadRequest, nil, codeInvalidRequest, "stream of target "+t.Name+" cannot be resumed")
		return
	}
	resp, err := hu.resumeStream(ctx, ids[t.idx])
	switch {
	case errors.Is(err, ErrUpstreamSessionGone):
		writeHTTPError(w, http.StatusNotFound, nil, codeInvalidRequest, "session expired at target "+t.Name)
		return
	case err != nil:
		agentgateway.WriteError(w, http.StatusBadGateway, "target "+t.Name+" unavailable")
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		status := resp.StatusCode
		if status < 400 || status > 499 {
			status = http.StatusBadGateway
		}
		writeHTTPError(w, status, nil, codeInvalidRequest, fmt.Sprintf("target %s cannot resume the stream: HTTP %d: %s", t.Name, resp.StatusCode, strings.TrimSpace(string(b))))
		return
	}
	out := &postReply{w: w, wantSSE: true}
	out.mu.Lock()
	out.startSSE()
	_ = http.NewResponseController(w).Flush()
	out.mu.Unlock()
	f.watchReply(out)
	defer f.unwatchReply(out)
	_, err = readSSE(resp.Body, func(ev sseEvent) bool {
		switch {
		case ev.comment:
			out.comment()
		case len(ev.data) > 0:
			if m := f.adapt(sess, t, ev.data); m != nil {
				out.relayID(eventIDOf(t, ev.id), m)
			}
		case ev.id != "":
			out.relayID(postEventID(t, ev.id), nil)
		}
		sess.touch()
		return true
	})
	if err != nil && !errors.Is(err, io.EOF) && r.Context().Err() == nil {
		f.logger().Debug("mcp: resumed stream from target ended", "target", t.Name, "error", err)
	}
}

// eventIDOf is postEventID, or "" for an event without an id.
func eventIDOf(t *target, id string) string {
	if id == "" {
		return ""
	}
	return postEventID(t, id)
}
