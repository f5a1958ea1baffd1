// Package extproc holds the client side of Envoy's external processing protocol
// (envoy.service.ext_proc.v3) that the gateway speaks in more than one place: the Inference
// Extension's endpoint picker (package inference) and the extProc policy (package policy). It
// translates between net/http and the protocol's messages; the exchanges themselves stay with their
// users, whose protocols differ.
package extproc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Dial makes a lazily connecting gRPC client of the processor at address ("host:port"): TLS when
// tlsConfig is set, else plaintext (h2c); dial, if set, opens the connections.
func Dial(address string, tlsConfig *tls.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*grpc.ClientConn, extprocv3.ExternalProcessorClient, error) {
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if dial != nil {
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return dial(ctx, "tcp", addr) }))
	}
	conn, err := grpc.NewClient("passthrough:///"+address, opts...)
	if err != nil {
		return nil, nil, err
	}
	return conn, extprocv3.NewExternalProcessorClient(conn), nil
}

// RequestHeaders is r's header block as the protocol carries it: the HTTP/2 pseudo-headers, then
// the headers with lower-case names.
func RequestHeaders(r *http.Request) *corev3.HeaderMap {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	hm := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":method", RawValue: []byte(r.Method)},
		{Key: ":path", RawValue: []byte(r.URL.RequestURI())},
		{Key: ":authority", RawValue: []byte(r.Host)},
		{Key: ":scheme", RawValue: []byte(scheme)},
	}}
	return appendHeaders(hm, r.Header)
}

// ResponseHeaders is a response's header block: ":status", then the headers.
func ResponseHeaders(status int, h http.Header) *corev3.HeaderMap {
	hm := &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":status", RawValue: []byte(strconv.Itoa(status))}}}
	return appendHeaders(hm, h)
}

func appendHeaders(hm *corev3.HeaderMap, h http.Header) *corev3.HeaderMap {
	for k, vs := range h {
		for _, v := range vs {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: strings.ToLower(k), RawValue: []byte(v)})
		}
	}
	return hm
}

// HeaderValue is h's value: raw_value, which Envoy sends and prefers, else value.
func HeaderValue(h *corev3.HeaderValue) string {
	if len(h.GetRawValue()) > 0 {
		return string(h.GetRawValue())
	}
	return h.GetValue()
}

// ApplyHeaderMutation applies m to h. Pseudo-headers, the framing headers (content-length,
// transfer-encoding, host) and invalid names or values are never set from the processor: the
// gateway owns framing. Every set
// header's lower-cased name is passed to intercept first, which returns true to consume it (the
// picker's destination header is not forwarded); intercept may be nil.
func ApplyHeaderMutation(h http.Header, m *extprocv3.HeaderMutation, intercept func(name, value string) bool) {
	for _, o := range m.GetSetHeaders() {
		k, v := o.GetHeader().GetKey(), HeaderValue(o.GetHeader())
		lk := strings.ToLower(k)
		if intercept != nil && intercept(lk, v) {
			continue
		}
		switch {
		case lk == "" || strings.HasPrefix(lk, ":"), lk == "content-length", lk == "transfer-encoding", lk == "host":
			continue
		case !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v):
			continue // would be refused upstream or split a response header
		}
		if appendAction(o) {
			h.Add(k, v)
		} else {
			h.Set(k, v)
		}
	}
	for _, k := range m.GetRemoveHeaders() {
		if !strings.HasPrefix(k, ":") {
			h.Del(k)
		}
	}
}

// appendAction reports whether o adds a value rather than replacing the header's values.
func appendAction(o *corev3.HeaderValueOption) bool {
	if o.GetAppend() != nil { // the deprecated field, which still wins when set
		return o.GetAppend().GetValue()
	}
	return o.GetAppendAction() == corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
}

// Immediate is a processor's immediate_response: the answer the gateway sends instead of the
// request's own.
type Immediate struct {
	Status int
	Header http.Header
	Body   []byte
}

// ToImmediate converts an immediate_response; a status outside 200..599 (or none) is 503.
func ToImmediate(ir *extprocv3.ImmediateResponse) *Immediate {
	im := &Immediate{Status: int(ir.GetStatus().GetCode()), Header: http.Header{}, Body: ir.GetBody()}
	if im.Status < 200 || im.Status > 599 {
		im.Status = http.StatusServiceUnavailable
	}
	ApplyHeaderMutation(im.Header, ir.GetHeaders(), nil)
	return im
}

// Write sends the immediate response to w.
func (im *Immediate) Write(w http.ResponseWriter) {
	for k, vs := range im.Header {
		w.Header()[k] = vs
	}
	if len(im.Body) > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(im.Body)))
	}
	w.WriteHeader(im.Status)
	_, _ = w.Write(im.Body)
}

// BodyResult accumulates a processor's answers to one body: a whole replacement, a clear, or (in
// the streamed modes) a series of streamed_response chunks.
type BodyResult struct {
	Body    []byte
	Changed bool
	Done    bool
	chunks  []byte
}

// Apply folds one body mutation into the result; a nil mutation leaves the body as it is.
func (b *BodyResult) Apply(m *extprocv3.BodyMutation) error {
	switch bm := m.GetMutation().(type) {
	case *extprocv3.BodyMutation_Body:
		b.Body, b.Changed, b.Done = bm.Body, true, true
	case *extprocv3.BodyMutation_ClearBody:
		b.Body, b.Changed, b.Done = nil, true, true
	case *extprocv3.BodyMutation_StreamedResponse:
		b.chunks = append(b.chunks, bm.StreamedResponse.GetBody()...)
		if bm.StreamedResponse.GetEndOfStream() {
			b.Body, b.Changed, b.Done = b.chunks, true, true
		}
	case nil:
		b.Done = true
	default:
		return fmt.Errorf("unexpected body mutation %T", bm)
	}
	return nil
}
