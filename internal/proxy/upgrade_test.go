package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func upgradeProxy(allowed ...string) *Proxy {
	return New(Options{Endpoints: []Endpoint{{Scheme: "http", Host: "127.0.0.1:9"}}, Transport: http.DefaultTransport,
		Upgrades: allowed})
}

func TestAllowedUpgrade(t *testing.T) {
	tests := []struct {
		allowed        []string
		connection, up string
		want           string
	}{
		{[]string{"websocket"}, "Upgrade", "websocket", "websocket"},
		{[]string{"websocket"}, "keep-alive, UPGRADE", " WebSocket ", "WebSocket"},
		{[]string{"websocket"}, "Upgrade", "h2c", ""},
		{[]string{"websocket"}, "Upgrade, HTTP2-Settings", "h2c, websocket", "websocket"},
		{[]string{"websocket"}, "Upgrade", "foo, bar", ""},
		{[]string{"websocket"}, "keep-alive", "websocket", ""}, // Connection does not ask to upgrade
		{[]string{"websocket", "h2c", "H2C/2"}, "Upgrade", "h2c, H2C/2", ""},
		{[]string{"foo/2", "bar"}, "Upgrade", "foo/1, foo/2, bar/9", "foo/2, bar/9"},
		{nil, "Upgrade", "websocket", ""},
	}
	for _, tt := range tests {
		p := upgradeProxy(tt.allowed...)
		h := http.Header{"Connection": {tt.connection}, "Upgrade": {tt.up}}
		assert.Equal(t, tt.want, p.allowedUpgrade(h), "%q allowing %q", tt.up, tt.allowed)
	}
	assert.Empty(t, upgradeProxy("websocket").allowedUpgrade(http.Header{"Upgrade": {"websocket"}}), "no Connection")
}

// FuzzAllowedUpgrade checks that whatever a client puts in Upgrade, only allowed protocols are
// forwarded, h2c never.
func FuzzAllowedUpgrade(f *testing.F) {
	f.Add("Upgrade, HTTP2-Settings", "h2c")
	f.Add("Upgrade", "h2c, websocket")
	f.Add("upgrade", "WebSocket/13,h2c/1")
	f.Add("close, Upgrade", "H2C")
	p := upgradeProxy("websocket", "foo/2")
	f.Fuzz(func(t *testing.T, connection, up string) {
		got := p.allowedUpgrade(http.Header{"Connection": {connection}, "Upgrade": {up}})
		if got == "" {
			return
		}
		assert.True(t, listed([]string{connection}, "upgrade"))
		for tok := range strings.SplitSeq(got, ",") {
			tok = strings.TrimSpace(tok)
			name, _, _ := strings.Cut(tok, "/")
			assert.False(t, strings.EqualFold(name, "h2c"), "forwarded %q", got)
			assert.True(t, strings.EqualFold(name, "websocket") || strings.EqualFold(tok, "foo/2"), "forwarded %q", got)
			assert.True(t, listed([]string{up}, tok), "%q is not in the request's %q", tok, up)
		}
	})
}
