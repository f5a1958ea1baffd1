package llm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// FuzzReadEventStream: any bytes from a provider give a summary or a matchable ErrEventStream,
// never a panic or an allocation beyond MaxEventStreamMessage.
func FuzzReadEventStream(f *testing.F) {
	frame := func(event, payload string) []byte {
		var b bytes.Buffer
		var m eventstream.Message
		m.Headers.Set(":event-type", eventstream.StringValue(event))
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Payload = []byte(payload)
		_ = eventstream.NewEncoder().Encode(&b, m)
		return b.Bytes()
	}
	f.Add(frame("metadata", `{"usage":{"inputTokens":1,"outputTokens":2}}`))
	f.Add(frame("chunk", `{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdGFydCJ9"}`))
	f.Add(frame("chunk", `{"bytes":"not base64"}`))
	huge := make([]byte, 16)
	binary.BigEndian.PutUint32(huge, 0xfffffff0) // a prelude claiming 4 GiB
	f.Add(huge)
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := readEventStream(bytes.NewReader(b), nil)
		if err != nil && !errors.Is(err, ErrEventStream) {
			t.Fatalf("unmatchable error %v", err)
		}
	})
}

// FuzzPassthroughModel: the model of a passthrough request is read from any path and body without
// a panic.
func FuzzPassthroughModel(f *testing.F) {
	f.Add("/model/anthropic.claude%3A0/converse", []byte(`{}`))
	f.Add("/v1beta/models/gemini-pro:generateContent", []byte(nil))
	f.Add("/model/", []byte(`{"model":1}`))
	f.Add("/model/%zz/x", []byte(`{"model":"m"`))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		_ = passthroughModel(path, body)
	})
}
