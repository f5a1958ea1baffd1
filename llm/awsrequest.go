package llm

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// clientRequestKey carries the client's request in the context of the upstream request built for
// it, so credentials that depend on the caller ([AWSRequestCredentials]) can read it.
type clientRequestKey struct{}

// errNoClientRequest is returned by per-request credentials used outside a routed call.
var errNoClientRequest = errors.New("aws credentials: no client request in the context")

// AWSRequestCredentials makes credentials that depend on the client's request (an assumed role
// whose session name and tags come from the caller's JWT) usable with [AWSSigV4]: fn gets the
// client request of each upstream call. They are not cached across callers; fn caches per session.
func AWSRequestCredentials(fn func(ctx context.Context, client *http.Request) (aws.Credentials, error)) aws.CredentialsProvider {
	return requestCreds(fn)
}

type requestCreds func(ctx context.Context, client *http.Request) (aws.Credentials, error)

// Retrieve implements aws.CredentialsProvider.
func (f requestCreds) Retrieve(ctx context.Context) (aws.Credentials, error) {
	r, _ := ctx.Value(clientRequestKey{}).(*http.Request)
	if r == nil {
		return aws.Credentials{}, errNoClientRequest
	}
	return f(ctx, r)
}

// cachedCreds wraps creds in a cache unless they depend on the caller.
func cachedCreds(creds aws.CredentialsProvider) aws.CredentialsProvider {
	if _, ok := creds.(requestCreds); ok {
		return creds
	}
	return aws.NewCredentialsCache(creds)
}
