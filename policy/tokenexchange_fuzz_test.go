package policy

import (
	"errors"
	"testing"
	"time"
)

// FuzzTokenResponse: any answer from a token endpoint gives a token, or an error wrapping
// ErrTokenEndpoint; never a panic, never a negative or absurd lifetime.
func FuzzTokenResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"a","expires_in":60}`))
	f.Add(200, "application/json; charset=utf-8", []byte(`{"access_token":"a","expires_in":"3600"}`))
	f.Add(200, "", []byte(`{"access_token":"a","expires_in":1e300}`))
	f.Add(200, "application/json", []byte(`{"access_token":"a","expires_in":-5}`))
	f.Add(200, "text/html", []byte(`<html>`))
	f.Add(400, "application/json", []byte(`{"error":"invalid_grant","error_description":"expired"}`))
	f.Add(500, "", []byte(``))
	f.Add(200, "application/json", []byte(`{"access_token":"","expires_in":{}}`))
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		tok, ttl, err := parseTokenResponse(status, ct, body)
		if err != nil {
			if !errors.Is(err, ErrTokenEndpoint) {
				t.Fatalf("error %v does not wrap ErrTokenEndpoint", err)
			}
			return
		}
		if tok == "" || ttl < 0 || ttl > 367*24*time.Hour {
			t.Fatalf("token %q ttl %v", tok, ttl)
		}
	})
}
