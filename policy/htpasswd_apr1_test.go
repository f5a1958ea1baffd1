package policy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/policy"
)

// TestBasicAuthAPR1: htpasswd files with $apr1$ (MD5) hashes, as `htpasswd -m` and agentgateway's
// basic-authentication example write them, are accepted and checked: the right password passes (the
// hashes are `openssl passwd -apr1` outputs, including an empty and a longer-than-16-byte password),
// a wrong one is refused, and a malformed $apr1$ entry is refused when the file is loaded.
func TestBasicAuthAPR1(t *testing.T) {
	users := map[string]struct{ pass, hash string }{
		"admin": {"password", "$apr1$Q/5qL8KZ$DorMmx9TtdjqnOWadqFg0."},
		"empty": {"", "$apr1$Q/5qL8KZ$LCTQQiqSvyhPm21iEQqg91"},
		"one":   {"a", "$apr1$Q/5qL8KZ$7f5OoCyx/MDI/4f0S46/m1"},
		"long":  {"averyveryverylongpasswordmorethan16bytes", "$apr1$Q/5qL8KZ$n3w5DUqOBTVwociXPcotC."},
		"short": {"x", "$apr1$ab$eIePjsejfBGR8ITtu2z0U1"},
	}
	file := ""
	for u, e := range users {
		file += u + ":" + e.hash + "\n"
	}
	p, err := policy.NewBasicAuth(policy.BasicAuthConfig{Htpasswd: []byte(file), Mode: policy.ModeStrict})
	require.NoError(t, err)
	for u, e := range users {
		assert.Equal(t, 200, do(p, (&seen{}).Handler(200, ""), req("GET", "/", "Authorization", basic(u, e.pass))).Code, u)
		assert.Equal(t, 401, do(p, (&seen{}).Handler(200, ""), req("GET", "/", "Authorization", basic(u, e.pass+"x"))).Code, u)
	}
	for _, bad := range []string{"$apr1$$DorMmx9TtdjqnOWadqFg0.", "$apr1$Q/5qL8KZ$short", "$apr1$toolongsalt$DorMmx9TtdjqnOWadqFg0.", "$apr1$Q/5qL8KZ$DorMmx9TtdjqnOWadqFg0!", "$apr1$Q/5qL8KZ"} {
		_, err := policy.ParseHtpasswd([]byte("u:" + bad + "\n"))
		assert.ErrorIs(t, err, policy.ErrHtpasswd, bad)
	}
}
