package config_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// ipGateway builds a config and returns a function that sends one request from a given peer address
// (and X-Forwarded-For) to the port it binds, answering the status.
func ipGateway(t *testing.T, yaml string) func(path, peer, xff string) int {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	t.Cleanup(up.Close)
	yaml = strings.ReplaceAll(yaml, "UPSTREAM", strings.TrimPrefix(up.URL, "http://"))
	f, err := config.Load([]byte(yaml), nil)
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	h := gw.PortHandler(rt.Config.Listeners[0].Port)
	return func(path, peer, xff string) int {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
}

func listenerACL(acl string) string {
	return `
binds:
- port: 3000
  listeners:
  - policies:
      ipAccessControl:
` + acl + `
    routes:
    - backends:
      - host: UPSTREAM
`
}

// The scenarios of agentgateway's examples/ip-access-control, served on a listener.
func TestIPAccessControlServed(t *testing.T) {
	type req struct {
		peer, xff string
		want      int
	}
	cases := map[string]struct {
		acl  string
		reqs []req
	}{
		"allowlist": {`        allow: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]`, []req{
			{"10.1.2.3:5000", "", 200}, {"192.168.9.9:1", "", 200}, {"8.8.8.8:5000", "", 403},
			{"8.8.8.8:5000", "10.0.0.1", 403}, // XFF is not trusted unless configured
		}},
		"denylist": {`        deny: ["198.51.100.0/24", "203.0.113.0/24"]`, []req{
			{"198.51.100.7:1", "", 403}, {"8.8.8.8:1", "", 200},
		}},
		"deny wins over allow": {"        allow: [\"10.0.0.0/8\"]\n        deny: [\"10.0.1.0/24\"]", []req{
			{"10.0.1.5:1", "", 403}, {"10.0.2.5:1", "", 200},
		}},
		"xff trusted hops": {"        allow: [\"203.0.113.0/24\"]\n        xffNumTrustedHops: 2", []req{
			{"10.0.0.9:1", "1.1.1.1, 203.0.113.9, 10.0.0.2", 200},
			{"10.0.0.9:1", "203.0.113.9, 1.1.1.1, 10.0.0.2", 403},
			{"203.0.113.1:1", "", 200},        // no header: the connection's IP
			{"203.0.113.1:1", "garbage", 200}, // unparsable: the connection's IP
			{"8.8.8.8:1", "", 403},
		}},
		"private bypass": {"        allow: [\"203.0.113.0/24\"]\n        skipPrivateIps: true", []req{
			{"127.0.0.1:1", "", 200}, {"[fe80::1]:1", "", 200}, {"203.0.113.5:1", "", 200}, {"8.8.8.8:1", "", 403},
		}},
		"full chain": {"        allow: [\"203.0.113.0/24\", \"198.51.100.0/24\"]\n        deny: [\"203.0.113.128/25\"]\n        enforceFullChain: true\n        skipPrivateIps: true\n        maxXffLength: 3", []req{
			{"10.0.0.1:1", "203.0.113.5, 198.51.100.1", 200},
			{"10.0.0.1:1", "203.0.113.5, 203.0.113.200", 403},
			{"10.0.0.1:1", "8.8.8.8, 203.0.113.5", 403},
			{"10.0.0.1:1", "203.0.113.1, 203.0.113.2, 203.0.113.3, 203.0.113.4", 403}, // longer than maxXffLength
		}},
		"ipv6": {"        allow: [\"10.0.0.0/8\", \"2001:db8::/32\", \"fd00::/8\"]\n        deny: [\"2001:db8:bad::/48\"]", []req{
			{"[2001:db8::1]:1", "", 200}, {"[2001:db8:bad::1]:1", "", 403}, {"[::ffff:10.1.1.1]:1", "", 200}, {"[2002::1]:1", "", 403},
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			send := ipGateway(t, listenerACL(c.acl))
			for _, r := range c.reqs {
				assert.Equal(t, r.want, send("/", r.peer, r.xff), "peer %s xff %q", r.peer, r.xff)
			}
		})
	}
}

// A listener's and a route's ipAccessControl merge: the lists union and the listener's flags apply to
// the route's lists too (examples/ip-access-control/multi-source-merge.yaml).
func TestIPAccessControlMerge(t *testing.T) {
	send := ipGateway(t, `
binds:
- port: 3000
  listeners:
  - policies:
      ipAccessControl:
        deny: ["198.51.100.0/24"]
        skipPrivateIps: true
    routes:
    - name: internal
      matches: [{path: {pathPrefix: /internal}}]
      policies:
        ipAccessControl: {allow: ["10.0.0.0/8"]}
      backends: [{host: UPSTREAM}]
    - name: partners
      matches: [{path: {pathPrefix: /partners}}]
      policies:
        ipAccessControl: {allow: ["203.0.113.0/24"], deny: ["203.0.113.66/32"]}
      backends: [{host: UPSTREAM}]
    - name: open
      matches: [{path: {pathPrefix: /open}}]
      backends: [{host: UPSTREAM}]
`)
	assert.Equal(t, 200, send("/internal", "10.1.1.1:1", ""))
	assert.Equal(t, 403, send("/internal", "203.0.113.5:1", ""))
	assert.Equal(t, 200, send("/partners", "203.0.113.5:1", ""))
	assert.Equal(t, 403, send("/partners", "203.0.113.66:1", ""), "the route's deny")
	assert.Equal(t, 403, send("/partners", "8.8.8.8:1", ""))
	assert.Equal(t, 200, send("/partners", "127.0.0.1:1", ""), "the listener's skipPrivateIps applies to the route's allow list")
	assert.Equal(t, 403, send("/open", "198.51.100.9:1", ""), "the listener's deny on a route without its own")
	assert.Equal(t, 200, send("/open", "8.8.8.8:1", ""))
}

func TestIPAccessControlConfigErrors(t *testing.T) {
	for acl, path := range map[string]string{
		`        allow: ["10.0.0.0/33"]`:  "ipAccessControl.allow[0]",
		`        deny: ["nope"]`:          "ipAccessControl.deny[0]",
		`        xffNumTrustedHops: -1`:   "ipAccessControl.xffNumTrustedHops",
		`        maxXffLength: -2`:        "ipAccessControl.maxXffLength",
		`        enforceFullChain: "yes"`: "ipAccessControl",
	} {
		f, err := config.Load([]byte(strings.ReplaceAll(listenerACL(acl), "UPSTREAM", "127.0.0.1:1")), nil)
		if err == nil {
			_, err = f.Build(nil)
		}
		require.Error(t, err, acl)
		assert.Contains(t, err.Error(), path, acl)
	}
}
