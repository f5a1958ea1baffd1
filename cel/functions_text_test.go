package cel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// merge, regexReplace(All), url.encode/decode and form.encode evaluate as agentgateway's examples use
// them: masking tool arguments, encoding a client certificate into a header, building a token
// request body.
func TestTextFunctions(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	cases := []struct{ expr, want string }{
		{`toJson({"a": 1, "b": {"c": 2}}.merge({"b": {"d": 3}, "e": "x"}))`, `{"a":1,"b":{"d":3},"e":"x"}`},
		{`toJson({"m": "hi"}.with(p, p.merge({"m": p.m + "!"})))`, `{"m":"hi!"}`},
		{`"a@x.io and b@y.org".regexReplaceAll("[a-z]+@[a-z.]+", "[EMAIL]")`, "[EMAIL] and [EMAIL]"},
		{`"a@x.io and b@y.org".regexReplace("[a-z]+@[a-z.]+", "[EMAIL]")`, "[EMAIL] and b@y.org"},
		{`"key=abc key=def".regexReplaceAll("key=([a-z]+)", "k:${1}")`, "k:abc k:def"},
		{`"key=abc key=def".regexReplace("key=([a-z]+)", "k:$1")`, "k:abc key=def"},
		{`"none".regexReplace("x", "y")`, "none"},
		{`url.encode("-----BEGIN CERT-----\nAB+/=")`, "-----BEGIN+CERT-----%0AAB%2B%2F%3D"},
		{`url.decode(url.encode("a b&c"))`, "a b&c"},
		{`base64.encode("a:b") + base64.encode(b"a")`, "YTpiYQ=="},
		{`unvalidatedJwtPayload("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NX0.sig").sub`, "alice"},
		{`form.encode({"grant_type": "urn:x", "scope": ["a", "b"], "n": 2})`, "grant_type=urn%3Ax&n=2&scope=a&scope=b"},
	}
	for _, c := range cases {
		p, err := Compile(c.expr, nil)
		require.NoError(t, err, c.expr)
		got, err := p.EvalString(context.Background(), NewActivation(r, nil))
		require.NoError(t, err, c.expr)
		assert.Equal(t, c.want, got, c.expr)
	}
	for _, bad := range []string{`"x".regexReplaceAll("(", "y")`, `url.decode("%zz")`, `unvalidatedJwtPayload("a.b")`, `unvalidatedJwtPayload("a.!!.c")`} {
		p, err := Compile(bad, nil)
		require.NoError(t, err, bad)
		_, err = p.EvalString(context.Background(), NewActivation(r, nil))
		assert.Error(t, err, bad)
	}
}

// source.certificate is the client's verified certificate in PEM (examples/mtls forwards
// url.encode(source.certificate) to the app), and "" on a connection without one.
func TestSourceCertificate(t *testing.T) {
	p, err := Compile(`url.encode(source.certificate)`, nil)
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "/", nil)
	got, err := p.EvalString(context.Background(), NewActivation(r, nil))
	require.NoError(t, err)
	assert.Equal(t, "", got)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte{1, 2, 3}}}}
	got, err = p.EvalString(context.Background(), NewActivation(r, nil))
	require.NoError(t, err)
	assert.Equal(t, url.QueryEscape("-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"), got)
}
