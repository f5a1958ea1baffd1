package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/google"
)

// Cloud credentials for any upstream (the schema's backendAuth aws, gcp and azure): a bearer token
// from an OAuth2 token source (Google access tokens, Azure Entra ID tokens) or an AWS SigV4
// signature. They run after the provider's headers are set, just before the request is sent.

// ErrCredentials marks a failure to obtain a cloud credential (token endpoint down, bad secret).
var ErrCredentials = errors.New("llm: cloud credentials")

// sign authenticates a request to the upstream: its configured cloud credential, then the
// provider's own signer (Bedrock SigV4, Vertex default credentials) if the request still has none.
func (u *Upstream) sign(req *http.Request, body []byte) error {
	if u.auth != nil {
		if err := u.auth(req, body); err != nil {
			return fmt.Errorf("%w: %w", ErrCredentials, err)
		}
	}
	return signRequest(u.provider, req, body)
}

// BearerToken authenticates every request with an access token from ts (Authorization: Bearer),
// cached and refreshed before it expires. A configured API key is not sent with it.
func BearerToken(ts oauth2.TokenSource) UpstreamOption {
	return func(u *Upstream) {
		rts := oauth2.ReuseTokenSource(nil, ts)
		u.key, u.keySet, u.passKey = "", true, false
		u.auth = func(req *http.Request, _ []byte) error {
			tok, err := rts.Token()
			if err != nil {
				return err
			}
			req.Header.Del("api-key")
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			return nil
		}
	}
}

// GoogleScope is the OAuth2 scope of Google Cloud access tokens.
const GoogleScope = "https://www.googleapis.com/auth/cloud-platform"

// GoogleCredentials authenticates with Google access tokens: from credentialJSON (a service
// account key or an authorized-user file; other kinds are refused, as Google advises for
// configuration from outside) or, when it is empty, from the application default credentials. On a
// Vertex upstream it replaces the default credentials Vertex uses anyway.
func GoogleCredentials(credentialJSON []byte) UpstreamOption {
	return func(u *Upstream) {
		var ts oauth2.TokenSource
		if len(credentialJSON) == 0 {
			ts = &lazyGoogle{}
		} else {
			var probe struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(credentialJSON, &probe); err != nil {
				u.errs = append(u.errs, fmt.Errorf("gcp credential: %w", err))
				return
			}
			typ := google.CredentialsType(probe.Type)
			if typ != google.ServiceAccount && typ != google.AuthorizedUser {
				u.errs = append(u.errs, fmt.Errorf("gcp credential of type %q: want service_account or authorized_user", probe.Type))
				return
			}
			creds, err := google.CredentialsFromJSONWithType(context.Background(), credentialJSON, typ, GoogleScope)
			if err != nil {
				u.errs = append(u.errs, fmt.Errorf("gcp credential: %w", err))
				return
			}
			ts = creds.TokenSource
		}
		if v, ok := u.provider.(*VertexAI); ok {
			v.tokens = oauth2.ReuseTokenSource(nil, ts)
			return
		}
		BearerToken(ts)(u)
	}
}

// lazyGoogle finds the default credentials at the first call (not when the config is built, so a
// gateway without them starts and reports the error per request).
type lazyGoogle struct {
	mu sync.Mutex
	ts oauth2.TokenSource
}

func (l *lazyGoogle) Token() (*oauth2.Token, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ts == nil {
		ts, err := google.DefaultTokenSource(context.Background(), GoogleScope)
		if err != nil {
			return nil, fmt.Errorf("Google default credentials: %w", err)
		}
		l.ts = ts
	}
	return l.ts.Token()
}

// AWSSigV4 signs every request with SigV4 for service in region, with creds (nil: the SDK's
// default chain, looked up at the first call). On a Bedrock upstream service and region default to
// "bedrock" and the upstream's region.
func AWSSigV4(creds aws.CredentialsProvider, region, service string) UpstreamOption {
	return func(u *Upstream) {
		if b, ok := u.provider.(*BedrockConverse); ok && (service == "" || service == "bedrock") && (region == "" || region == b.Region) {
			if creds != nil {
				b.creds = cachedCreds(creds) // awsrequest.go
			}
			return
		}
		if service == "" {
			u.errs = append(u.errs, errors.New("aws auth: serviceName is required for a non-Bedrock provider"))
			return
		}
		if b, ok := u.provider.(*BedrockConverse); ok && region == "" {
			region = b.Region
		}
		s := &sigV4{service: service, region: region}
		if creds != nil {
			s.creds = cachedCreds(creds)
		}
		u.keySet = true
		u.auth = s.sign
	}
}

type sigV4 struct {
	service, region string
	mu              sync.Mutex
	creds           aws.CredentialsProvider
}

func (s *sigV4) sign(req *http.Request, body []byte) error {
	ctx := req.Context()
	s.mu.Lock()
	if s.creds == nil || s.region == "" {
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("loading the default AWS configuration: %w", err)
		}
		if s.creds == nil {
			s.creds = cfg.Credentials
		}
		if s.region == "" {
			s.region = cfg.Region
		}
	}
	creds, region := s.creds, s.region
	s.mu.Unlock()
	if region == "" {
		return errors.New("aws auth: no region configured or in the environment")
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Del("Authorization")
	return v4.NewSigner().SignHTTP(ctx, c, req, payload, s.service, region, time.Now())
}

// AzureScope is the scope of Azure OpenAI / AI Foundry tokens.
const AzureScope = "https://cognitiveservices.azure.com/.default"

// AzureCredential is how the gateway gets Microsoft Entra ID tokens for Azure OpenAI (the schema's
// backendAuth azure). Exactly one way applies: ClientSecret (client credentials), WorkloadIdentity
// (a federated token file as client assertion), or ManagedIdentity (the instance metadata service).
type AzureCredential struct {
	TenantID, ClientID, ClientSecret string
	// WorkloadIdentity reads AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE.
	WorkloadIdentity bool
	// ManagedIdentity uses the managed identity endpoint: IDENTITY_ENDPOINT with IDENTITY_HEADER
	// (App Service, Container Apps) when set, else the VM metadata service. A user-assigned identity
	// is chosen by one of IdentityClientID, IdentityObjectID, IdentityResourceID.
	ManagedIdentity                                        bool
	IdentityClientID, IdentityObjectID, IdentityResourceID string
	// AuthorityHost is the Entra endpoint (default AZURE_AUTHORITY_HOST, else
	// https://login.microsoftonline.com).
	AuthorityHost string
	// MetadataEndpoint overrides the managed identity endpoint (default
	// http://169.254.169.254/metadata/identity/oauth2/token).
	MetadataEndpoint string
	// Scope defaults to [AzureScope].
	Scope string
	// HTTPClient fetches tokens (default http.DefaultClient).
	HTTPClient *http.Client
}

// AzureEntra authenticates an upstream (Azure OpenAI, AI Foundry) with Entra ID tokens instead of an
// api-key.
func AzureEntra(c AzureCredential) UpstreamOption {
	return func(u *Upstream) {
		ts, err := c.TokenSource()
		if err != nil {
			u.errs = append(u.errs, err)
			return
		}
		BearerToken(ts)(u)
	}
}

// TokenSource returns the credential's token source (tokens fetched on demand, not cached: wrap it
// in oauth2.ReuseTokenSource, as [AzureEntra] does).
func (c AzureCredential) TokenSource() (oauth2.TokenSource, error) {
	scope := c.Scope
	if scope == "" {
		scope = AzureScope
	}
	authority := c.AuthorityHost
	if authority == "" {
		authority = os.Getenv("AZURE_AUTHORITY_HOST")
	}
	if authority == "" {
		authority = "https://login.microsoftonline.com"
	}
	authority = strings.TrimSuffix(authority, "/")
	client := c.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	switch {
	case c.ClientSecret != "":
		if c.TenantID == "" || c.ClientID == "" {
			return nil, errors.New("azure auth: clientSecret needs tenant_id and client_id")
		}
		cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: []string{scope},
			TokenURL: authority + "/" + url.PathEscape(c.TenantID) + "/oauth2/v2.0/token", AuthStyle: oauth2.AuthStyleInParams}
		return cc.TokenSource(ctx), nil
	case c.WorkloadIdentity:
		tenant, client, file := firstNonEmpty(c.TenantID, os.Getenv("AZURE_TENANT_ID")), firstNonEmpty(c.ClientID, os.Getenv("AZURE_CLIENT_ID")), os.Getenv("AZURE_FEDERATED_TOKEN_FILE")
		if tenant == "" || client == "" || file == "" {
			return nil, errors.New("azure auth: workload identity needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE")
		}
		return &workloadIdentity{ctx: ctx, tenant: tenant, client: client, file: file, scope: scope, authority: authority}, nil
	case c.ManagedIdentity:
		return &managedIdentity{c: c, client: client, resource: strings.TrimSuffix(scope, "/.default")}, nil
	}
	return nil, errors.New("azure auth: set one of clientSecret, workloadIdentity, managedIdentity")
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// workloadIdentity exchanges the federated service account token (re-read each time: the kubelet
// rotates it) for an Entra token.
type workloadIdentity struct {
	ctx                                    context.Context
	tenant, client, file, scope, authority string
}

func (w *workloadIdentity) Token() (*oauth2.Token, error) {
	assertion, err := os.ReadFile(w.file)
	if err != nil {
		return nil, fmt.Errorf("azure workload identity: %w", err)
	}
	cc := clientcredentials.Config{ClientID: w.client, Scopes: []string{w.scope}, AuthStyle: oauth2.AuthStyleInParams,
		TokenURL: w.authority + "/" + url.PathEscape(w.tenant) + "/oauth2/v2.0/token",
		EndpointParams: url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {strings.TrimSpace(string(assertion))}}}
	return cc.Token(w.ctx)
}

// managedIdentity asks the managed identity endpoint for a token.
type managedIdentity struct {
	c        AzureCredential
	client   *http.Client
	resource string
}

func (m *managedIdentity) Token() (*oauth2.Token, error) {
	endpoint, header := m.c.MetadataEndpoint, ""
	version := "2018-02-01"
	if endpoint == "" {
		if e := os.Getenv("IDENTITY_ENDPOINT"); e != "" {
			endpoint, header, version = e, os.Getenv("IDENTITY_HEADER"), "2019-08-01"
		} else {
			endpoint = "http://169.254.169.254/metadata/identity/oauth2/token"
		}
	}
	q := url.Values{"api-version": {version}, "resource": {m.resource}}
	switch {
	case m.c.IdentityClientID != "":
		q.Set("client_id", m.c.IdentityClientID)
	case m.c.IdentityObjectID != "":
		q.Set("object_id", m.c.IdentityObjectID)
	case m.c.IdentityResourceID != "":
		q.Set("msi_res_id", m.c.IdentityResourceID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("azure managed identity: %w", err)
	}
	req.Header.Set("Metadata", "true")
	if header != "" {
		req.Header.Set("X-IDENTITY-HEADER", header)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("azure managed identity: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("azure managed identity: status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var t struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return nil, fmt.Errorf("azure managed identity: no access_token in the answer: %w", err)
	}
	tok := &oauth2.Token{AccessToken: t.AccessToken, TokenType: "Bearer"}
	// Both are numbers sent as strings ("3599"); expires_on is a Unix time.
	if n, err := strconv.ParseInt(strings.Trim(string(t.ExpiresIn), `"`), 10, 64); err == nil && n > 0 {
		tok.Expiry = time.Now().Add(time.Duration(n) * time.Second)
	} else if n, err := strconv.ParseInt(strings.Trim(string(t.ExpiresOn), `"`), 10, 64); err == nil && n > 0 {
		tok.Expiry = time.Unix(n, 0)
	}
	return tok, nil
}

// AWSAssumeRole returns the credentials of roleARN, assumed through STS (in region, or the
// environment's) with base credentials (nil: the SDK's default chain), refreshed before they
// expire. sessionName and tags are the AssumeRole RoleSessionName and session tags (optional).
// Nothing is looked up until the first request.
func AWSAssumeRole(base aws.CredentialsProvider, region, roleARN, sessionName string, tags map[string]string) aws.CredentialsProvider {
	return &assumeRole{base: base, region: region, arn: roleARN, session: sessionName, tags: tags}
}

type assumeRole struct {
	base                 aws.CredentialsProvider
	region, arn, session string
	tags                 map[string]string
	mu                   sync.Mutex
	creds                aws.CredentialsProvider
}

// Retrieve implements aws.CredentialsProvider.
func (a *assumeRole) Retrieve(ctx context.Context) (aws.Credentials, error) {
	a.mu.Lock()
	if a.creds == nil {
		var opts []func(*awsconfig.LoadOptions) error
		if a.region != "" {
			opts = append(opts, awsconfig.WithRegion(a.region))
		}
		if a.base != nil {
			opts = append(opts, awsconfig.WithCredentialsProvider(a.base))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			a.mu.Unlock()
			return aws.Credentials{}, fmt.Errorf("assume role %s: loading the AWS configuration: %w", a.arn, err)
		}
		a.creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.arn, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = a.session
			for k, v := range a.tags {
				o.Tags = append(o.Tags, ststypes.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
		}))
	}
	c := a.creds
	a.mu.Unlock()
	return c.Retrieve(ctx)
}
