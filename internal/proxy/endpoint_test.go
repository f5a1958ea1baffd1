package proxy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in   string
		want Endpoint
		err  string
	}{
		{in: "127.0.0.1:8080", want: Endpoint{"http", "127.0.0.1:8080", ""}},
		{in: "localhost", want: Endpoint{"http", "localhost", ""}},
		{in: "http://Example.COM:80", want: Endpoint{"http", "example.com:80", ""}},
		{in: "https://api.example.com", want: Endpoint{"https", "api.example.com", ""}},
		{in: "HTTPS://api.example.com:8443/v1/", want: Endpoint{"https", "api.example.com:8443", "/v1"}},
		{in: "http://h:1/a/b", want: Endpoint{"http", "h:1", "/a/b"}},
		{in: "http://h:1/", want: Endpoint{"http", "h:1", ""}},
		{in: "http://h/a%20b", want: Endpoint{"http", "h", "/a b"}},
		{in: "[::1]:9000", want: Endpoint{"http", "[::1]:9000", ""}},
		{in: "http://[::1]", want: Endpoint{"http", "[::1]", ""}},
		{in: "", err: "empty endpoint"},
		{in: "ftp://h:21", err: "not http or https"},
		{in: "http://", err: "missing host"},
		{in: "http://:8080", err: "missing host"},
		{in: "http://u:p@h:1", err: "user info"},
		{in: "http://h:1/?x=1", err: "query"},
		{in: "http://h:1/#frag", err: "fragment"},
		{in: "h:0", err: "invalid port"},
		{in: "h:65536", err: "invalid port"},
		{in: "h:http", err: "invalid port"},
		{in: "h:", err: "empty port"},
		{in: "h :80", err: "white space"},
		{in: "mailto:x", err: "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEndpoint(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEndpointString(t *testing.T) {
	e, err := ParseEndpoint("http://h:1/a%20b/c")
	require.NoError(t, err)
	assert.Equal(t, "http://h:1/a%20b/c", e.String())
}

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:8080", "http://h:1/a/b", "https://[::1]:443/x/", "h", "http://h/%2F", "https://a.b:65535",
		"http://h:1/?q", "http://[fe80::1%25en0]:80", "//x", "http:///p", "h:0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEndpoint(s)
		if err != nil {
			return
		}
		if e.Scheme != "http" && e.Scheme != "https" {
			t.Fatalf("%q: scheme %q", s, e.Scheme)
		}
		if e.Host == "" {
			t.Fatalf("%q: empty host", s)
		}
		if e.BasePath != "" && (e.BasePath[0] != '/' || e.BasePath[len(e.BasePath)-1] == '/') {
			t.Fatalf("%q: base path %q", s, e.BasePath)
		}
		// What we print must parse back to the same endpoint.
		e2, err := ParseEndpoint(e.String())
		if err != nil {
			t.Fatalf("%q: reparse of %q: %v", s, e.String(), err)
		}
		if e2 != e {
			t.Fatalf("%q: reparse of %q gave %+v, want %+v", s, e.String(), e2, e)
		}
	})
}
