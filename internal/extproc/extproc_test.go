package extproc_test

import (
	"net/http"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
	"golang.org/x/net/http/httpguts"

	"github.com/agentgw/agentgateway/internal/extproc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func set(k, v string, appendValue bool) *corev3.HeaderValueOption {
	o := &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, RawValue: []byte(v)}}
	if appendValue {
		o.AppendAction = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	}
	return o
}

// A mutation sets, appends and removes headers; it cannot set pseudo-headers, framing headers or
// a value that would split the header block.
func TestApplyHeaderMutation(t *testing.T) {
	h := http.Header{"X-A": {"1"}, "X-Gone": {"x"}}
	extproc.ApplyHeaderMutation(h, &extprocv3.HeaderMutation{
		SetHeaders: []*corev3.HeaderValueOption{set("x-a", "2", true), set("x-b", "3", false), set(":path", "/evil", false),
			set("content-length", "1", false), set("host", "evil", false), set("x-split", "a\r\nX-Injected: 1", false)},
		RemoveHeaders: []string{"x-gone", ":method"},
	}, nil)
	assert.Equal(t, http.Header{"X-A": {"1", "2"}, "X-B": {"3"}}, h)
}

// FuzzApplyHeaderMutation: whatever the processor sends, the headers stay valid and framing is
// the gateway's.
func FuzzApplyHeaderMutation(f *testing.F) {
	f.Add("x-a", "v", false, "x-b")
	f.Add("content-length", "5", false, "")
	f.Add("x-s", "a\r\nb: c", true, ":path")
	f.Add(":status", "200", false, "Transfer-Encoding")
	f.Fuzz(func(t *testing.T, k, v string, appendValue bool, remove string) {
		h := http.Header{"Content-Length": {"3"}}
		extproc.ApplyHeaderMutation(h, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{set(k, v, appendValue)}, RemoveHeaders: []string{remove}}, nil)
		for name, vs := range h {
			if !httpguts.ValidHeaderFieldName(name) {
				t.Fatalf("invalid name %q", name)
			}
			for _, val := range vs {
				if !httpguts.ValidHeaderFieldValue(val) {
					t.Fatalf("invalid value %q", val)
				}
			}
		}
		if !strings.EqualFold(remove, "content-length") && h.Get("Content-Length") != "3" {
			t.Fatalf("content-length changed: %q", h.Get("Content-Length"))
		}
		assert.Empty(t, h.Get("Transfer-Encoding"))
	})
}
