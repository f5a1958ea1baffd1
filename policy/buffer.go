package policy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	agentgateway "github.com/agentgw/agentgateway"
)

// BufferConfig configures body buffering (agentgateway's `buffer`): a request body read whole before
// the backend gets it (an upstream that needs Content-Length, or one that must not see a slow
// client's trickle), and a response body held until complete (a client that must not see a partial
// answer).
type BufferConfig struct {
	Request  *BufferBody
	Response *BufferBody
}

// BufferBody bounds one direction's buffer.
type BufferBody struct {
	// MaxBytes bounds the buffer (default 16 MiB).
	MaxBytes int64
	// FailOpen streams a body larger than MaxBytes as it is instead of refusing it (request: 413;
	// response: 502).
	FailOpen bool
}

// DefaultBufferBytes is BufferBody.MaxBytes when unset.
const DefaultBufferBytes = 16 << 20

// ErrBufferLimit is State.Err for a body over a buffer's MaxBytes (fail closed).
var ErrBufferLimit = errors.New("body larger than the buffer limit")

// NewBuffer returns the buffer policy. It runs in the transformation phase, after the policies that
// decide whether the request goes on, so that a refused request is never buffered.
func NewBuffer(cfg BufferConfig) (agentgateway.Policy, error) {
	limit := func(b *BufferBody) int64 {
		if b.MaxBytes > 0 {
			return b.MaxBytes
		}
		return DefaultBufferBytes
	}
	return agentgateway.NewPolicy(agentgateway.PhaseTransformation, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := agentgateway.StateFrom(r.Context())
			if rb := cfg.Request; rb != nil && r.Body != nil && r.Body != http.NoBody {
				max := limit(rb)
				buf, err := io.ReadAll(io.LimitReader(r.Body, max+1))
				if err != nil {
					agentgateway.WriteError(w, agentgateway.RequestBodyStatus(err), "reading request body")
					return
				}
				if int64(len(buf)) > max {
					if !rb.FailOpen {
						if st != nil {
							st.Err = ErrBufferLimit
						}
						agentgateway.WriteError(w, http.StatusRequestEntityTooLarge, "request body too large")
						return
					}
					r.Body = struct {
						io.Reader
						io.Closer
					}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
				} else {
					r.Body = io.NopCloser(bytes.NewReader(buf))
					r.ContentLength = int64(len(buf))
					r.Header.Set("Content-Length", strconv.Itoa(len(buf)))
					r.TransferEncoding = nil
				}
			}
			if rb := cfg.Response; rb != nil {
				bw := &bufferWriter{max: limit(rb), failOpen: rb.FailOpen, st: st}
				bw.Init(w, bw, bw)
				next.ServeHTTP(&bw.HookedWriter, r)
				bw.finish()
				return
			}
			next.ServeHTTP(w, r)
		})
	}), nil
}

// bufferWriter holds the response (status, header and body) until the handler returns.
type bufferWriter struct {
	agentgateway.HookedWriter
	max      int64
	failOpen bool
	st       *agentgateway.State
	status   int
	buf      bytes.Buffer
	passing  bool // over the limit with FailOpen: writing through
	failed   bool
}

func (b *bufferWriter) BeforeHeader(h http.Header, status int) int {
	b.status = status
	return 0 // hold the header: finish sends it with the whole body
}

func (b *bufferWriter) WriteBody(p []byte) (int, error) {
	if b.failed {
		return len(p), nil
	}
	if b.passing {
		return b.Unwrap().Write(p)
	}
	if int64(b.buf.Len()+len(p)) > b.max {
		if !b.failOpen {
			b.failed = true
			return len(p), nil
		}
		b.passing = true
		b.commit(-1)
		_, _ = b.Unwrap().Write(b.buf.Bytes())
		b.buf.Reset()
		return b.Unwrap().Write(p)
	}
	return b.buf.Write(p)
}

// commit sends the held status; n >= 0 is the whole body's length.
func (b *bufferWriter) commit(n int) {
	if n >= 0 {
		b.Header().Set("Content-Length", strconv.Itoa(n))
	}
	b.Commit(b.status)
}

func (b *bufferWriter) finish() {
	switch {
	case b.passing:
	case b.failed:
		if b.st != nil {
			b.st.Err = ErrBufferLimit
		}
		clear(b.Unwrap().Header()) // the upstream's header (its Content-Length above all) is not ours to send
		agentgateway.WriteError(b.Unwrap(), http.StatusBadGateway, "response body too large")
	default:
		if b.status == 0 {
			b.status = http.StatusOK
		}
		b.commit(b.buf.Len())
		_, _ = b.Unwrap().Write(b.buf.Bytes())
	}
}
