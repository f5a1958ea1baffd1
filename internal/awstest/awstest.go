// Package awstest holds test peers for AWS integrations: a SigV4 signature check done the way an AWS
// service does it, and an STS stub that answers AssumeRole. Only tests import it.
package awstest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// VerifySigV4 checks r's SigV4 signature with creds, as the service would: the payload hash must be
// the body's (or UNSIGNED-PAYLOAD), and signing the request again over the headers it names
// (SignedHeaders) at its X-Amz-Date must give the same Authorization. It returns the credential
// scope's service and region.
func VerifySigV4(r *http.Request, body []byte, creds aws.Credentials) (service, region string, err error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", "", fmt.Errorf("not a SigV4 Authorization: %q", auth)
	}
	var scope, signed string
	for _, part := range strings.Split(rest, ", ") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "Credential":
			scope = v
		case "SignedHeaders":
			signed = v
		}
	}
	sc := strings.Split(scope, "/") // AKID/date/region/service/aws4_request
	if len(sc) != 5 || sc[0] != creds.AccessKeyID || sc[4] != "aws4_request" {
		return "", "", fmt.Errorf("bad credential scope %q", scope)
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if sum := sha256.Sum256(body); payload != "" && payload != "UNSIGNED-PAYLOAD" && payload != hex.EncodeToString(sum[:]) {
		return "", "", fmt.Errorf("payload hash %q is not the body's", payload)
	}
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "", "", fmt.Errorf("X-Amz-Date: %w", err)
	}
	u := *r.URL
	u.Scheme, u.Host = "https", r.Host
	check, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return "", "", err
	}
	for _, h := range strings.Split(signed, ";") {
		if h == "content-length" { // net/http keeps it out of Header
			check.ContentLength = r.ContentLength
		} else if h != "host" {
			check.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	check.Header.Del("Authorization")
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, check, payload, sc[3], sc[2], when); err != nil {
		return "", "", err
	}
	if got := check.Header.Get("Authorization"); got != auth {
		return "", "", fmt.Errorf("signature mismatch:\n got %s\nwant %s", auth, got)
	}
	return sc[3], sc[2], nil
}

// STS is a stub of the STS query API that answers AssumeRole with fresh credentials per call,
// after checking the call's SigV4 signature with the base credentials.
type STS struct {
	*httptest.Server
	Base aws.Credentials

	mu    sync.Mutex
	calls []url.Values
}

// NewSTS starts the stub; Close it when done.
func NewSTS(base aws.Credentials) *STS {
	s := &STS{Base: base}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Calls returns the forms of the AssumeRole calls so far.
func (s *STS) Calls() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.calls...)
}

// Credentials are those the n-th (0-based) AssumeRole call returned.
func Credentials(n int) aws.Credentials {
	return aws.Credentials{AccessKeyID: fmt.Sprintf("ASIAASSUMED%d", n), SecretAccessKey: fmt.Sprintf("assumed-secret-%d", n), SessionToken: fmt.Sprintf("assumed-session-%d", n)}
}

func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if svc, _, err := VerifySigV4(r, body, s.Base); err != nil || svc != "sts" {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>%s (service %q)</Message></Error></ErrorResponse>`, err, svc)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Action") != "AssumeRole" || form.Get("Version") != "2011-06-15" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>want AssumeRole</Message></Error></ErrorResponse>`)
		return
	}
	s.mu.Lock()
	n := len(s.calls)
	s.calls = append(s.calls, form)
	s.mu.Unlock()
	c := Credentials(n)
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId>
      <SecretAccessKey>%s</SecretAccessKey>
      <SessionToken>%s</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROA:%s</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("RoleSessionName"), n)
}
