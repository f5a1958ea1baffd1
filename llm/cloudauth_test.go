package llm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentgw/agentgateway/llm"
)

// tokenEndpoint is an OAuth2 token endpoint that checks each request with check (an error is
// answered 400 invalid_grant and recorded) and issues token.
type tokenEndpoint struct {
	srv   *httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	errs  []string
}

func newTokenEndpoint(t *testing.T, token string, check func(r *http.Request, form url.Values) error) *tokenEndpoint {
	te := &tokenEndpoint{}
	te.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.calls.Add(1)
		_ = r.ParseForm()
		if err := check(r, r.Form); err != nil {
			te.mu.Lock()
			te.errs = append(te.errs, err.Error())
			te.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"`+err.Error()+`"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, token)
	}))
	t.Cleanup(te.srv.Close)
	t.Cleanup(func() {
		te.mu.Lock()
		defer te.mu.Unlock()
		for _, e := range te.errs {
			t.Errorf("token endpoint: %s", e)
		}
	})
	return te
}

func want(form url.Values, kv ...string) error {
	for i := 0; i < len(kv); i += 2 {
		if got := form.Get(kv[i]); got != kv[i+1] {
			return fmt.Errorf("%s=%q, want %q", kv[i], got, kv[i+1])
		}
	}
	return nil
}

// azureWithEntra serves an Azure OpenAI stub that only accepts the bearer token tok.
func azureWithEntra(t *testing.T, tok string, opt llm.UpstreamOption) *openai.Client {
	t.Helper()
	_, base := newRecorder(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if r.Header.Get("Authorization") != "Bearer "+tok || r.Header.Get("api-key") != "" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}`)
			return
		}
		openaiStubAnswer(w, r, body)
	})
	t.Setenv("AZURE_OPENAI_API_KEY", "env-key-that-must-not-be-sent")
	r, err := llm.New(llm.Model("gpt-4o", llm.AzureOpenAI("res", llm.AzureOpenAIResource, "", "", llm.BaseURL(base), opt)))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveLLM(t, r)
	c := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("client"), option.WithMaxRetries(0))
	return &c
}

func chatOnce(t *testing.T, c *openai.Client) {
	t.Helper()
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Hello Azure" {
		t.Fatalf("answer %q", resp.Choices[0].Message.Content)
	}
}

// TestAzureEntraClientSecret: Azure OpenAI with Entra client credentials: the token endpoint gets
// grant_type=client_credentials, the client ID and secret and the Cognitive Services scope at
// /{tenant}/oauth2/v2.0/token; the provider gets the token as bearer and no api-key; the token is
// reused across calls.
func TestAzureEntraClientSecret(t *testing.T) {
	te := newTokenEndpoint(t, "entra-tok", func(r *http.Request, f url.Values) error {
		if r.URL.Path != "/tenant-1/oauth2/v2.0/token" || r.Method != http.MethodPost {
			return fmt.Errorf("%s %s", r.Method, r.URL.Path)
		}
		return want(f, "grant_type", "client_credentials", "client_id", "app-1", "client_secret", "s3cret", "scope", llm.AzureScope)
	})
	c := azureWithEntra(t, "entra-tok", llm.AzureEntra(llm.AzureCredential{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: "s3cret", AuthorityHost: te.srv.URL}))
	chatOnce(t, c)
	chatOnce(t, c)
	if n := te.calls.Load(); n != 1 {
		t.Errorf("%d token requests for two calls", n)
	}
}

// TestAzureEntraManagedIdentity: the managed identity endpoint gets Metadata: true, the resource
// (scope without /.default), the API version and the user-assigned client ID; expires_in as a string.
func TestAzureEntraManagedIdentity(t *testing.T) {
	var calls atomic.Int32
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		q := r.URL.Query()
		if r.Header.Get("Metadata") != "true" || q.Get("resource") != "https://cognitiveservices.azure.com" || q.Get("api-version") != "2018-02-01" || q.Get("client_id") != "mi-1" {
			t.Errorf("IMDS request %s %v", r.URL, r.Header)
			w.WriteHeader(400)
			return
		}
		io.WriteString(w, `{"access_token":"mi-tok","expires_in":"3599","expires_on":"1900000000","resource":"https://cognitiveservices.azure.com","token_type":"Bearer"}`)
	}))
	t.Cleanup(imds.Close)
	c := azureWithEntra(t, "mi-tok", llm.AzureEntra(llm.AzureCredential{ManagedIdentity: true, IdentityClientID: "mi-1", MetadataEndpoint: imds.URL}))
	chatOnce(t, c)
	chatOnce(t, c)
	if calls.Load() != 1 {
		t.Errorf("%d IMDS calls", calls.Load())
	}
}

// TestAzureEntraWorkloadIdentity: the federated token file is sent as a jwt-bearer client assertion.
func TestAzureEntraWorkloadIdentity(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("federated.jwt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	te := newTokenEndpoint(t, "wi-tok", func(r *http.Request, f url.Values) error {
		if r.URL.Path != "/tenant-2/oauth2/v2.0/token" {
			return fmt.Errorf("path %s", r.URL.Path)
		}
		return want(f, "grant_type", "client_credentials", "client_id", "app-2", "client_assertion", "federated.jwt",
			"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "scope", llm.AzureScope)
	})
	t.Setenv("AZURE_TENANT_ID", "tenant-2")
	t.Setenv("AZURE_CLIENT_ID", "app-2")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	t.Setenv("AZURE_AUTHORITY_HOST", te.srv.URL)
	chatOnce(t, azureWithEntra(t, "wi-tok", llm.AzureEntra(llm.AzureCredential{WorkloadIdentity: true})))
}

// TestAzureEntraTokenFailure: a token endpoint that refuses answers the client a 502 in its
// format, and the provider is never called without credentials.
func TestAzureEntraTokenFailure(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		io.WriteString(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
	}))
	t.Cleanup(bad.Close)
	c := azureWithEntra(t, "never", llm.AzureEntra(llm.AzureCredential{TenantID: "t", ClientID: "c", ClientSecret: "wrong", AuthorityHost: bad.URL}))
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 {
		t.Fatalf("got %v", err)
	}
}

// TestGoogleServiceAccount: a Gemini upstream with a service account key: the key's token_uri gets
// a JWT-bearer grant whose assertion is signed by the key, and the provider gets the access token
// as bearer instead of an API key.
func TestGoogleServiceAccount(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	te := newTokenEndpoint(t, "ya29.test-token", func(r *http.Request, f url.Values) error {
		if err := want(f, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"); err != nil {
			return err
		}
		if parts := strings.Split(f.Get("assertion"), "."); len(parts) != 3 {
			return fmt.Errorf("assertion %q is not a JWT", f.Get("assertion"))
		}
		return nil
	})
	cred, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "p", "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": "sa@p.iam.gserviceaccount.com",
		"client_id": "1", "token_uri": te.srv.URL + "/token"})
	stub := newProvStub(t, "gemini")
	r, err := llm.New(llm.Model("gemini-2.5-pro", llm.Gemini(llm.BaseURL(stub.srv.URL+"/v1beta"), llm.APIKey("not-sent"), llm.GoogleCredentials(cred))))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveLLM(t, r)
	c := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("client"), option.WithMaxRetries(0))
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gemini-2.5-pro",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	_, _, hdr := stub.last()
	if hdr.Get("Authorization") != "Bearer ya29.test-token" || hdr.Get("x-goog-api-key") != "" {
		t.Errorf("provider headers %v", hdr)
	}
	if _, err := llm.New(llm.Model("g", llm.Gemini(llm.GoogleCredentials([]byte(`{"type":"external_account"}`))))); err == nil {
		t.Error("an external_account credential was accepted")
	}
}

// TestAWSSigV4AnyProvider: backendAuth aws on an OpenAI-compatible upstream (an API behind AWS
// API Gateway) signs each request for the configured service; the stub verifies the signature.
func TestAWSSigV4AnyProvider(t *testing.T) {
	var bad atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifySigV4For(r, body, "execute-api"); err != nil {
			bad.Add(1)
			t.Log(err)
			w.WriteHeader(403)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		openaiStubAnswer(w, r, m)
	}))
	t.Cleanup(srv.Close)
	creds := credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")
	r, err := llm.New(llm.Model("m", llm.OpenAICompatible("apigw", srv.URL+"/v1", llm.AWSSigV4(creds, testRegion, "execute-api"))))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveLLM(t, r)
	c := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("client"), option.WithMaxRetries(0))
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 {
		t.Error("signature rejected")
	}
	if _, err := llm.New(llm.Model("m", llm.OpenAI(llm.AWSSigV4(creds, "", "")))); err == nil {
		t.Error("SigV4 without a service name accepted for a non-Bedrock provider")
	}
}

// TestAWSAssumeRole: AssumeRole credentials: STS gets AssumeRole for the role, with the session
// name and tags, signed by the base credentials; provider requests are signed with the temporary
// credentials (their key ID and session token), and the role is assumed once for several calls.
func TestAWSAssumeRole(t *testing.T) {
	var stsCalls atomic.Int32
	stsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stsCalls.Add(1)
		_ = r.ParseForm()
		if err := want(r.Form, "Action", "AssumeRole", "RoleArn", "arn:aws:iam::123456789012:role/llm", "RoleSessionName", "gw",
			"Tags.member.1.Key", "team", "Tags.member.1.Value", "blue"); err != nil || !strings.Contains(r.Header.Get("Authorization"), "Credential="+testAccessKey+"/") {
			t.Errorf("STS request: %v %v", err, r.Header.Get("Authorization"))
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
			`<AccessKeyId>ASIATEMPKEY</AccessKeyId><SecretAccessKey>temp-secret</SecretAccessKey><SessionToken>temp-token</SessionToken>`+
			`<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/llm/gw</Arn>`+
			`<AssumedRoleId>AROA:gw</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
	}))
	t.Cleanup(stsSrv.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", stsSrv.URL)
	var bad atomic.Int32
	_, base := newRecorder(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if !strings.Contains(r.Header.Get("Authorization"), "Credential=ASIATEMPKEY/") || r.Header.Get("X-Amz-Security-Token") != "temp-token" {
			bad.Add(1)
			w.WriteHeader(403)
			return
		}
		openaiStubAnswer(w, r, body)
	})
	creds := llm.AWSAssumeRole(credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""), testRegion,
		"arn:aws:iam::123456789012:role/llm", "gw", map[string]string{"team": "blue"})
	r, err := llm.New(llm.Model("m", llm.OpenAICompatible("apigw", base+"/v1", llm.AWSSigV4(creds, testRegion, "execute-api"))))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveLLM(t, r)
	c := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("client"), option.WithMaxRetries(0))
	for range 2 {
		if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
			t.Fatal(err)
		}
	}
	if bad.Load() != 0 || stsCalls.Load() != 1 {
		t.Errorf("%d bad signatures, %d STS calls", bad.Load(), stsCalls.Load())
	}
}
