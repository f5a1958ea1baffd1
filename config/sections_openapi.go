package config

import (
	"context"
	"net/http"
	"time"

	"github.com/agentgw/agentgateway/mcp"
	"github.com/agentgw/agentgateway/policy"
)

// openAPIFetchTimeout bounds fetching a target's OpenAPI document from a URL at build time.
const openAPIFetchTimeout = 10 * time.Second

// openAPITargetSpec is the schema's LocalMcpTarget `openapi` variant: the document (schema: inline,
// {file} resolved against the config's directory, or {url} fetched at build time) and where the API
// is (host as a URL or host:port, or host, port and path, or a named backend). Without a path the
// document's server path is kept.
type openAPITargetSpec struct {
	Schema  fileInlineOrRemote `json:"schema"`
	Host    string             `json:"host"`
	Port    int                `json:"port"`
	Path    string             `json:"path"`
	Backend string             `json:"backend"`
}

// target builds the mcp.Target; the backendAuth of a named backend comes with it.
func (s openAPITargetSpec) target(bc *BuildContext, name string) (mcp.Target, error) {
	var spec []byte
	opts := []mcp.OpenAPIOption{mcp.OpenAPILogger(bc.Logger)}
	switch {
	case s.Schema.URL != "":
		ctx, cancel := context.WithTimeout(context.Background(), openAPIFetchTimeout)
		defer cancel()
		b, err := mcp.FetchOpenAPISpec(ctx, nil, s.Schema.URL)
		if err != nil {
			return mcp.Target{}, bc.Errorf("schema.url", "%w", err)
		}
		spec = b
		opts = append(opts, mcp.OpenAPISpecLocation(s.Schema.URL))
	case s.Schema.File != "":
		b, err := bc.ReadFile("schema.file", s.Schema.File)
		if err != nil {
			return mcp.Target{}, err
		}
		spec = b
	case s.Schema.Inline != "":
		spec = []byte(s.Schema.Inline)
	default:
		return mcp.Target{}, bc.Errorf("schema", "an OpenAPI document is required")
	}
	h := mcpHostSpec{Host: s.Host, Port: s.Port, Path: s.Path, Backend: s.Backend}
	if h.Host == "" && h.Backend == "" {
		return mcp.Target{}, bc.Errorf("host", "a host is required")
	}
	u, auth, err := h.url(bc, "")
	if err != nil {
		return mcp.Target{}, err
	}
	opts = append(opts, mcp.OpenAPIBaseURL(u))
	t := mcp.OpenAPITarget(name, spec, opts...)
	t.BackendAuth = auth
	return t, nil
}

// tlsClient is an HTTP client whose connections use the target's backendTLS policy.
func tlsClient(bc *BuildContext, s backendTLSSpec) (*http.Client, error) {
	p, err := buildBackendTLS(bc, s)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: p.(*policy.BackendTLS).Transport()}, nil
}
