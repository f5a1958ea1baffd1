package agentgateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	agw "github.com/agentgw/agentgateway"
)

// TestBackendCredentialsChainAndReset: nested backend-auth policies all apply, outermost first, and a
// nil function drops what outer policies recorded.
func TestBackendCredentialsChainAndReset(t *testing.T) {
	assert.Nil(t, agw.BackendCredentialsFrom(context.Background()))
	set := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	ctx := agw.WithBackendCredentials(context.Background(), set("A", "outer"))
	ctx = agw.WithBackendCredentials(ctx, set("A", "inner"))
	ctx = agw.WithBackendCredentials(ctx, set("B", "b"))
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	agw.BackendCredentialsFrom(ctx)(r)
	assert.Equal(t, http.Header{"A": {"inner"}, "B": {"b"}}, r.Header)
	assert.Nil(t, agw.BackendCredentialsFrom(agw.WithBackendCredentials(ctx, nil)))
}
