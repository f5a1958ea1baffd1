package llm

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// MaxEventStreamMessage bounds one AWS event-stream message from a provider; a longer one (or a
// prelude whose lengths do not add up) fails the stream before anything is allocated for it.
const MaxEventStreamMessage = 4 << 20

// ErrEventStream reports a malformed or oversized AWS event-stream message.
var ErrEventStream = errors.New("llm: malformed AWS event-stream message")

// NewStreamDecoder implements [Provider]: ConverseStream's AWS event-stream messages (decoded by the
// AWS SDK's eventstream package), each an event named by its :event-type header with a JSON payload:
// messageStart, contentBlockStart, contentBlockDelta, contentBlockStop, messageStop, metadata; or an
// exception (:message-type exception) that ends the stream.
func (*BedrockConverse) NewStreamDecoder(r io.Reader) StreamDecoder {
	return &bdStreamDecoder{r: bufio.NewReaderSize(r, 16<<10), dec: eventstream.NewDecoder(), blocks: map[int]int{}}
}

type bdStreamDecoder struct {
	r       *bufio.Reader
	dec     *eventstream.Decoder
	buf     []byte
	queue   []Event
	head    int // next event of queue to return
	started bool
	ended   bool
	stopped bool
	stop    StopReason
	next    int
	blocks  map[int]int // contentBlockIndex -> block index
	kinds   map[int]PartType
	open    []int
}

func (d *bdStreamDecoder) buffered() int { return d.r.Buffered() + len(d.queue) - d.head }

// Next implements [StreamDecoder].
func (d *bdStreamDecoder) Next() (Event, error) {
	for d.head == len(d.queue) {
		if d.ended {
			return Event{}, io.EOF
		}
		if err := d.read(); err != nil {
			return Event{}, err
		}
	}
	ev := d.queue[d.head]
	if d.head++; d.head == len(d.queue) {
		d.queue, d.head = d.queue[:0], 0 // drained: the next message's events reuse the array
	}
	return ev, nil
}

func (d *bdStreamDecoder) push(ev Event) { d.queue = append(d.queue, ev) }

func (d *bdStreamDecoder) fail(e *Error) {
	d.push(Event{Type: EventError, Err: e})
	d.ended = true
}

// message reads one event-stream message after checking its prelude's lengths.
func (d *bdStreamDecoder) message() (eventstream.Message, error) {
	pre, err := d.r.Peek(8)
	if err != nil {
		if err == io.EOF && len(pre) == 0 {
			return eventstream.Message{}, io.EOF
		}
		if err == io.EOF {
			return eventstream.Message{}, fmt.Errorf("%w: %w", ErrEventStream, io.ErrUnexpectedEOF)
		}
		return eventstream.Message{}, err
	}
	total, hdrs := binary.BigEndian.Uint32(pre[0:4]), binary.BigEndian.Uint32(pre[4:8])
	if total > MaxEventStreamMessage || total < 16 || uint64(hdrs)+16 > uint64(total) {
		return eventstream.Message{}, fmt.Errorf("%w: length %d, headers %d", ErrEventStream, total, hdrs)
	}
	m, err := d.dec.Decode(d.r, d.buf[:0])
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return eventstream.Message{}, fmt.Errorf("%w: %w", ErrEventStream, err)
	}
	d.buf = m.Payload
	return m, nil
}

func header(m eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

type bdStreamEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Start             *struct {
		ToolUse *struct {
			ToolUseID string `json:"toolUseId"`
			Name      string `json:"name"`
		} `json:"toolUse"`
	} `json:"start"`
	Delta *struct {
		Text    *string `json:"text"`
		ToolUse *struct {
			Input string `json:"input"`
		} `json:"toolUse"`
		ReasoningContent *struct {
			Text            *string `json:"text"`
			Signature       string  `json:"signature"`
			RedactedContent string  `json:"redactedContent"`
		} `json:"reasoningContent"`
	} `json:"delta"`
	StopReason string   `json:"stopReason"`
	Usage      *bdUsage `json:"usage"`
	Message    string   `json:"message"`
}

func (d *bdStreamDecoder) read() error {
	m, err := d.message()
	if err == io.EOF {
		if !d.stopped {
			d.fail(&Error{Status: 502, Kind: ErrAPI, Message: "the provider's stream ended early", Err: io.ErrUnexpectedEOF})
			return nil
		}
		d.closeAll()
		d.push(Event{Type: EventFinish, StopReason: d.stop})
		d.push(Event{Type: EventEnd})
		d.ended = true
		return nil
	}
	if err != nil {
		if errors.Is(err, ErrEventStream) {
			d.fail(&Error{Status: 502, Kind: ErrAPI, Message: "malformed stream event from the provider", Err: err})
			return nil
		}
		return err
	}
	if header(m, ":event-type") == "contentBlockDelta" && header(m, ":message-type") == "event" {
		if cbi, text, ok := bdTextDelta(m.Payload); ok {
			i := d.block(cbi, PartText, Event{})
			d.push(Event{Type: EventDelta, Index: i, PartType: PartText, Text: text})
			return nil
		}
	}
	var ev bdStreamEvent
	if len(m.Payload) > 0 {
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			d.fail(&Error{Status: 502, Kind: ErrAPI, Message: "malformed stream event from the provider", Err: err})
			return nil
		}
	}
	switch header(m, ":message-type") {
	case "exception":
		d.fail(bedrockException(header(m, ":exception-type"), ev.Message))
		return nil
	case "error":
		d.fail(&Error{Status: 502, Kind: ErrAPI, Code: header(m, ":error-code"), Message: header(m, ":error-message")})
		return nil
	}
	if !d.started {
		d.started = true
		d.push(Event{Type: EventStart, ID: newMessageID("msg_bdrk_")})
	}
	switch header(m, ":event-type") {
	case "contentBlockStart":
		if ev.Start != nil && ev.Start.ToolUse != nil {
			d.block(ev.ContentBlockIndex, PartToolCall, Event{ToolCallID: ev.Start.ToolUse.ToolUseID, ToolName: ev.Start.ToolUse.Name})
		}
	case "contentBlockDelta":
		if ev.Delta == nil {
			return nil
		}
		dl := ev.Delta
		switch {
		case dl.Text != nil:
			i := d.block(ev.ContentBlockIndex, PartText, Event{})
			d.push(Event{Type: EventDelta, Index: i, PartType: PartText, Text: *dl.Text})
		case dl.ToolUse != nil:
			i := d.block(ev.ContentBlockIndex, PartToolCall, Event{})
			if dl.ToolUse.Input != "" {
				d.push(Event{Type: EventDelta, Index: i, PartType: PartToolCall, Arguments: dl.ToolUse.Input})
			}
		case dl.ReasoningContent != nil:
			rc := dl.ReasoningContent
			if rc.RedactedContent != "" {
				d.block(ev.ContentBlockIndex, PartRedactedThinking, Event{Data: rc.RedactedContent})
				return nil
			}
			i := d.block(ev.ContentBlockIndex, PartThinking, Event{})
			if rc.Text != nil && *rc.Text != "" {
				d.push(Event{Type: EventDelta, Index: i, PartType: PartThinking, Text: *rc.Text})
			}
			if rc.Signature != "" {
				d.push(Event{Type: EventDelta, Index: i, PartType: PartThinking, Signature: rc.Signature})
			}
		}
	case "contentBlockStop":
		if i, ok := d.blocks[ev.ContentBlockIndex]; ok {
			d.close(i)
		}
	case "messageStop":
		d.stopped, d.stop = true, bedrockStop(ev.StopReason)
	case "metadata":
		if ev.Usage != nil {
			d.push(Event{Type: EventUsage, Usage: ev.Usage.usage()})
		}
	}
	return nil
}

// block returns the block index of a Converse content block, opening it on first sight (Converse
// starts text and reasoning blocks implicitly with their first delta).
func (d *bdStreamDecoder) block(cbi int, pt PartType, start Event) int {
	if i, ok := d.blocks[cbi]; ok {
		return i
	}
	i := d.next
	d.next++
	d.blocks[cbi] = i
	d.open = append(d.open, i)
	start.Type, start.Index, start.PartType = EventBlockStart, i, pt
	d.push(start)
	return i
}

func (d *bdStreamDecoder) close(i int) {
	for k, b := range d.open {
		if b == i {
			d.open = append(d.open[:k], d.open[k+1:]...)
			d.push(Event{Type: EventBlockStop, Index: i})
			return
		}
	}
}

func (d *bdStreamDecoder) closeAll() {
	for _, b := range d.open {
		d.push(Event{Type: EventBlockStop, Index: b})
	}
	d.open = nil
}

// bedrockException maps a ConverseStream exception to an error with the status the same
// exception has as an HTTP answer.
func bedrockException(typ, msg string) *Error {
	status := http.StatusBadGateway
	switch typ {
	case "throttlingException":
		status = http.StatusTooManyRequests
	case "validationException":
		status = http.StatusBadRequest
	case "modelTimeoutException":
		status = http.StatusGatewayTimeout
	case "serviceUnavailableException":
		status = http.StatusServiceUnavailable
	case "internalServerException", "modelStreamErrorException":
		status = http.StatusBadGateway
	}
	if msg == "" {
		msg = "the provider failed mid-stream: " + typ
	}
	return &Error{Status: status, Kind: statusKind(status), Code: typ, Message: msg}
}
