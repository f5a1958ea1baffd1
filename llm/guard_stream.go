package llm

import (
	"context"
	"unicode/utf8"
)

// maskScanner applies one regex guard to a text that arrives in pieces (the deltas of a streamed
// text block). It emits as soon as text can no longer be part of a match and holds back only the
// tail that still could: the longest suffix made of runes the guard's patterns can match, bounded
// by their longest match. So a card number split over two deltas is masked whole, and prose passes
// with at most its last word held.
type maskScanner struct {
	g       *Guard
	pending string
	prev    string // the last rune emitted: left context for \b
	ms      []match
}

// feed adds text and returns what may be emitted now; rejected when a reject guard matched.
func (s *maskScanner) feed(text string) (out string, rejected bool) {
	s.pending += text
	cut := len(s.pending) - s.g.holdBack(s.pending)
	return s.emit(cut)
}

// flush emits everything held (the block ended).
func (s *maskScanner) flush() (string, bool) { return s.emit(len(s.pending)) }

func (s *maskScanner) emit(cut int) (string, bool) {
	if cut <= 0 {
		return "", false
	}
	full := s.prev + s.pending
	off := len(s.prev)
	s.ms = s.g.findMatches(full, s.ms)
	// A match that starts before the cut and ends after it is held whole.
	for _, m := range s.ms {
		if m.start-off < cut && m.end-off > cut {
			cut = max(m.start-off, 0)
			break
		}
	}
	var keep []match
	for _, m := range s.ms {
		if m.start >= off && m.end-off <= cut {
			keep = append(keep, match{m.start - off, m.end - off, m.rule})
		}
	}
	if len(keep) > 0 && s.g.action == Reject {
		return "", true
	}
	out := applyMasks(s.pending[:cut], keep)
	if cut > 0 {
		_, size := utf8.DecodeLastRuneInString(s.pending[:cut])
		s.prev = s.pending[cut-size : cut]
	}
	s.pending = s.pending[cut:]
	return out, false
}

// blockScan is the guard pipeline of one streamed text block: each guard's output feeds the next.
// Regex guards scan incrementally; a webhook guard buffers the block and judges it at its end.
type blockScan struct {
	stages []*maskScanner // nil entries are buffering (webhook) stages
	bufs   []string
}

// streamGuard applies response guards to a stream of events.
type streamGuard struct {
	guards []*Guard
	ctx    context.Context
	gc     *govCall
	blocks map[int]*blockScan
	out    []Event
}

func newStreamGuard(ctx context.Context, gc *govCall, guards []*Guard) *streamGuard {
	return &streamGuard{guards: guards, ctx: ctx, gc: gc, blocks: map[int]*blockScan{}}
}

// process returns the events to send for ev (none, it, or masked text before it), or the error
// that ends the stream (a rejection or a failing guard).
func (s *streamGuard) process(ev *Event) ([]Event, *Error) {
	s.out = s.out[:0]
	switch ev.Type {
	case EventBlockStart:
		if ev.PartType == PartText {
			b := &blockScan{stages: make([]*maskScanner, len(s.guards)), bufs: make([]string, len(s.guards))}
			for i, g := range s.guards {
				if g.kind == kindRegex {
					b.stages[i] = &maskScanner{g: g}
				}
			}
			s.blocks[ev.Index] = b
		}
	case EventDelta:
		if b := s.blocks[ev.Index]; b != nil && ev.PartType == PartText {
			text, e := s.run(b, ev.Text, false)
			if e != nil {
				return nil, e
			}
			if text != "" {
				d := *ev
				d.Text = text
				s.out = append(s.out, d)
			}
			return s.out, nil
		}
	case EventBlockStop:
		if b := s.blocks[ev.Index]; b != nil {
			if e := s.close(ev.Index, b); e != nil {
				return nil, e
			}
		}
	case EventFinish, EventEnd, EventError:
		for i, b := range s.blocks {
			if e := s.close(i, b); e != nil {
				return nil, e
			}
		}
	}
	s.out = append(s.out, *ev)
	return s.out, nil
}

func (s *streamGuard) close(index int, b *blockScan) *Error {
	delete(s.blocks, index)
	text, e := s.run(b, "", true)
	if e != nil {
		return e
	}
	if text != "" {
		s.out = append(s.out, Event{Type: EventDelta, Index: index, PartType: PartText, Text: text})
	}
	return nil
}

// run passes text through the stages; at the end of the block (final) each stage flushes.
func (s *streamGuard) run(b *blockScan, text string, final bool) (string, *Error) {
	for i, st := range b.stages {
		g := s.guards[i]
		if st == nil {
			b.bufs[i] += text
			if !final {
				return "", nil
			}
			out, e := s.gc.judgeResponseText(s.ctx, g, b.bufs[i])
			if e != nil {
				return "", e
			}
			b.bufs[i], text = "", out
			continue
		}
		var rejected bool
		if final {
			var head string
			head, rejected = st.feed(text)
			if !rejected {
				var tail string
				tail, rejected = st.flush()
				head += tail
			}
			text = head
		} else {
			text, rejected = st.feed(text)
		}
		if rejected {
			return "", rejectionError(g)
		}
		if text == "" && !final {
			return "", nil
		}
	}
	return text, nil
}
