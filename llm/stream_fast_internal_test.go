package llm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// gmNormal makes empty slices nil: the scanner path reuses its arrays, so an empty list may come out
// either way, and the decoder only ranges over them.
func gmNormal(r *gmResponse) gmResponse {
	out := *r
	if len(out.Candidates) == 0 {
		out.Candidates = nil
	}
	out.Candidates = append([]struct {
		Content      *gmContent `json:"content"`
		FinishReason string     `json:"finishReason"`
		Index        int        `json:"index"`
	}(nil), out.Candidates...)
	for i := range out.Candidates {
		if c := out.Candidates[i].Content; c != nil {
			cc := *c
			if len(cc.Parts) == 0 {
				cc.Parts = nil
			}
			out.Candidates[i].Content = &cc
		}
	}
	return out
}

// FuzzGeminiChunkScan: whenever the scanner reads a Gemini stream chunk, encoding/json reads the
// same chunk (no error object) into the same response, also when the scratch space held the
// previous chunk.
func FuzzGeminiChunkScan(f *testing.F) {
	f.Add([]byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"token 1 "}]},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r1"}`),
		[]byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"totalTokenCount":7,"thoughtsTokenCount":1},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`))
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"t","thought":true,"thoughtSignature":"s"},{"text":"\u00e9"}]},"safetyRatings":[{"x":1}]}]}`),
		[]byte(`{"candidates":[{"content":{"parts":[]}}],"promptFeedback":{"blockReason":"SAFETY"}}`))
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]}}]}`), []byte(`{"error":{"code":429,"message":"quota"}}`))
	f.Add([]byte(`{"candidates":[],"usageMetadata":null,"CANDIDATES":[]}`), []byte(`{"candidates":[{"content":null,"index":"0"}]}`))
	f.Add([]byte(`{"candidates":[{"content":{"parts":null,"role":"user"},"index":1}],"modelVersion":"\u0067"}`), []byte(`[1]`))
	f.Fuzz(checkGeminiChunkScan)
}

func checkGeminiChunkScan(t *testing.T, a, b []byte) {
	var s gmScratch
	for _, data := range [][]byte{a, b} {
		got, ok := scanGeminiChunk(data, &s)
		if !ok {
			continue
		}
		var ce struct {
			gmResponse
			Error *struct{} `json:"error"`
		}
		if err := json.Unmarshal(data, &ce); err != nil || ce.Error != nil {
			t.Fatalf("scanned %s, but encoding/json: %v, error object %v", data, err, ce.Error != nil)
		}
		if g, w := gmNormal(got), gmNormal(&ce.gmResponse); !reflect.DeepEqual(g, w) {
			t.Fatalf("%s:\n got %+v\nwant %+v", data, g, w)
		}
	}
}

// TestStreamScanTaken: the text chunks of an ordinary stream take the scanner path.
func TestStreamScanTaken(t *testing.T) {
	var s gmScratch
	for _, c := range []string{
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"token 1 "}]},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r1"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"totalTokenCount":7}}`,
	} {
		if _, ok := scanGeminiChunk([]byte(c), &s); !ok {
			t.Errorf("scanner gave up on %s", c)
		}
	}
}

// TestFastMatchesStdOnTestdata runs the differential checks of the fuzz targets over every request,
// answer and stream of the test data (golden outputs included: they are valid inputs too).
func TestFastMatchesStdOnTestdata(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "*"))
	files = append(files, more...)
	n := 0
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue // a directory
		}
		n++
		t.Run(name, func(t *testing.T) {
			checkOARequestDecoder(t, b)
			checkANRequestEncoder(t, b, string(b))
			checkANResponseDecoder(t, b)
			checkOAResponseEncoder(t, b, string(b), len(b)/3)
			// every SSE data line of a stream, and each pair of consecutive ones
			var prev []byte
			for _, line := range bytes.Split(b, []byte("\n")) {
				if data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data: ")); ok {
					checkGeminiChunkScan(t, prev, data)
					prev = data
				}
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d test data files found", n)
	}
}
