package llm

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Passthrough detect of an AWS event stream (the framing of Bedrock's ConverseStream and
// InvokeModelWithResponseStream): the usage and, where the stream says it, the model.

// esSummary is what a Bedrock event stream told about its call.
type esSummary struct {
	model   string
	usage   Usage
	hasText bool // a text or tool delta came (the first token)
}

// readEventStream reads AWS event-stream messages from r until it ends or breaks, calling
// onToken at the first delta. A malformed message stops the reading (the bytes still reach the
// client through the caller's tee); what was read so far is returned.
func readEventStream(r io.Reader, onToken func()) (esSummary, error) {
	var s esSummary
	br := bufio.NewReaderSize(r, 16<<10)
	dec := eventstream.NewDecoder()
	var buf []byte
	token := func() {
		if !s.hasText {
			s.hasText = true
			if onToken != nil {
				onToken()
			}
		}
	}
	for {
		pre, err := br.Peek(8)
		if err != nil {
			if err == io.EOF && len(pre) == 0 {
				return s, nil
			}
			return s, fmt.Errorf("%w: %w", ErrEventStream, io.ErrUnexpectedEOF)
		}
		total, hdrs := binary.BigEndian.Uint32(pre[0:4]), binary.BigEndian.Uint32(pre[4:8])
		if total > MaxEventStreamMessage || total < 16 || uint64(hdrs)+16 > uint64(total) {
			return s, fmt.Errorf("%w: length %d, headers %d", ErrEventStream, total, hdrs)
		}
		m, err := dec.Decode(br, buf[:0])
		if err != nil {
			return s, fmt.Errorf("%w: %w", ErrEventStream, err)
		}
		buf = m.Payload
		if header(m, ":message-type") != "event" {
			continue // an exception: the client gets it as it is
		}
		switch header(m, ":event-type") {
		case "contentBlockDelta": // ConverseStream
			token()
		case "metadata":
			var ev struct {
				Usage *bdUsage `json:"usage"`
			}
			if json.Unmarshal(m.Payload, &ev) == nil && ev.Usage != nil {
				s.usage = ev.Usage.usage()
			}
		case "chunk": // InvokeModelWithResponseStream: {"bytes": base64 of the model's own JSON event}
			var ch struct {
				Bytes []byte `json:"bytes"`
			}
			if json.Unmarshal(m.Payload, &ch) != nil {
				continue
			}
			var inner struct {
				Type    string `json:"type"`
				Message *struct {
					Model string `json:"model"`
				} `json:"message"`
				Metrics *struct {
					InputTokenCount  int64 `json:"inputTokenCount"`
					OutputTokenCount int64 `json:"outputTokenCount"`
					CacheRead        int64 `json:"cacheReadInputTokenCount"`
					CacheWrite       int64 `json:"cacheWriteInputTokenCount"`
				} `json:"amazon-bedrock-invocationMetrics"`
			}
			if json.Unmarshal(ch.Bytes, &inner) != nil {
				continue
			}
			if inner.Message != nil && inner.Message.Model != "" {
				s.model = inner.Message.Model
			}
			if inner.Type == "content_block_delta" || inner.Type == "" && inner.Metrics == nil {
				token()
			}
			if mt := inner.Metrics; mt != nil {
				s.usage = Usage{InputTokens: mt.InputTokenCount + mt.CacheRead + mt.CacheWrite, OutputTokens: mt.OutputTokenCount,
					CachedInputTokens: mt.CacheRead, CacheCreationTokens: mt.CacheWrite}
			}
		}
	}
}
