package policy_test

import (
	"crypto/sha1" //nolint:gosec // testing the {SHA} htpasswd scheme
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func htpasswd(t *testing.T) string {
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	sum := sha1.Sum([]byte("legacy")) //nolint:gosec
	return "# users\nalice:" + string(h) + "\n\nbob:{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestBasicAuth(t *testing.T) {
	p, err := policy.NewBasicAuth(policy.BasicAuthConfig{Htpasswd: []byte(htpasswd(t)), Realm: "agents", Mode: policy.ModeStrict})
	require.NoError(t, err)

	for range 2 { // the second time is served from the verified cache
		var s seen
		w := do(p, s.Handler(200, ""), req("GET", "/", "Authorization", basic("alice", "s3cret")))
		require.Equal(t, 200, w.Code)
		assert.Equal(t, "alice", s.State.Identity.Subject)
		assert.Equal(t, "basicAuth", s.State.Identity.Method)
		assert.Empty(t, s.Req.Header.Get("Authorization"))
	}
	assert.Equal(t, 200, do(p, (&seen{}).Handler(200, ""), req("GET", "/", "Authorization", basic("bob", "legacy"))).Code)

	for name, hdr := range map[string]string{
		"wrong password":              basic("alice", "nope"),
		"cached user, wrong password": basic("alice", "s3cret!"),
		"unknown user":                basic("eve", "s3cret"),
		"not base64":                  "Basic !!!",
		"no colon":                    "Basic " + base64.StdEncoding.EncodeToString([]byte("alice")),
		"bearer":                      "Bearer abc",
		"empty":                       "Basic ",
	} {
		w := do(p, (&seen{}).Handler(200, ""), req("GET", "/", "Authorization", hdr))
		assert.Equal(t, 401, w.Code, name)
		assert.Equal(t, `Basic realm="agents", charset="UTF-8"`, w.Header().Get("WWW-Authenticate"), name)
	}
	w := do(p, (&seen{}).Handler(200, ""), req("GET", "/"))
	assert.Equal(t, 401, w.Code)

	opt, err := policy.NewBasicAuth(policy.BasicAuthConfig{Htpasswd: []byte(htpasswd(t)), Mode: policy.ModeOptional})
	require.NoError(t, err)
	assert.Equal(t, 200, do(opt, (&seen{}).Handler(200, ""), req("GET", "/")).Code, "optional")
}

func TestBasicAuthConfigErrors(t *testing.T) {
	for name, c := range map[string]struct {
		spec  policy.BasicAuthConfig
		field string
	}{
		"missing":   {policy.BasicAuthConfig{}, "htpasswd"},
		"plaintext": {policy.BasicAuthConfig{Htpasswd: []byte("alice:secret")}, "htpasswd"},
		"apr1":      {policy.BasicAuthConfig{Htpasswd: []byte("alice:$apr1$x$y")}, "htpasswd"},
		"bad {SHA}": {policy.BasicAuthConfig{Htpasswd: []byte("a:{SHA}x")}, "htpasswd"},
		"location":  {policy.BasicAuthConfig{Htpasswd: []byte("a:{SHA}x"), Location: &policy.Location{Cookie: "a b"}}, "location.cookie"},
		"mode":      {policy.BasicAuthConfig{Htpasswd: []byte("a:{SHA}x"), Mode: policy.ModePermissive}, "mode"},
	} {
		_, err := policy.NewBasicAuth(c.spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, c.field, ce.Path, name)
	}
	_, err := policy.ParseHtpasswd([]byte("a:{SHA}x\nb\n"))
	assert.ErrorIs(t, err, policy.ErrHtpasswd)
	assert.ErrorContains(t, err, "line 2")
}
