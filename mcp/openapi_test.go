package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
	"github.com/agentgw/agentgateway/policy"
)

// petstoreSpec is an OpenAPI 3.0 document for petAPI: path, query, header and body parameters, $refs
// (one recursive), a readOnly id, an operation without an operationId and an error status.
const petstoreSpec = `
openapi: 3.0.3
info: {title: Petstore, version: 1.0.0}
servers: [{url: "https://petstore.invalid/api/v1"}]
paths:
  /pets:
    get:
      operationId: listPets
      summary: List pets
      description: Pets in the store, optionally by tag.
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
        - {name: tags, in: query, schema: {type: array, items: {type: string}}}
        - {name: X-Request-Id, in: header, schema: {type: string}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: array, items: {$ref: "#/components/schemas/Pet"}}}}}
    post:
      operationId: createPet
      summary: Add a pet
      requestBody:
        required: true
        content:
          application/json: {schema: {$ref: "#/components/schemas/NewPet"}}
      responses:
        "201": {description: created, content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}}
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, description: The pet's id., schema: {type: string}}
    get:
      operationId: getPet
      summary: Get a pet
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Pet"}}}}
        "404": {description: not found}
    delete:
      summary: Remove a pet
      responses:
        "204": {description: removed}
  /tree:
    put:
      operationId: putTree
      requestBody:
        content:
          application/json: {schema: {$ref: "#/components/schemas/Node"}}
      responses:
        "200": {description: ok, content: {text/plain: {schema: {type: string}}}}
components:
  schemas:
    NewPet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer, readOnly: true}
        name: {type: string, minLength: 1}
        tag: {type: string, nullable: true}
    Pet:
      allOf:
        - $ref: "#/components/schemas/NewPet"
    Node:
      type: object
      required: [name]
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
`

// petAPI is a small REST API behind petstoreSpec; it records the requests it gets.
type petAPI struct {
	mu   sync.Mutex
	pets map[string]map[string]any
	seen []*http.Request
	next int
}

func newPetAPI(t testing.TB) (*petAPI, *httptest.Server) {
	api := &petAPI{pets: map[string]map[string]any{"7": {"id": 7, "name": "rex", "tag": "dog"}, "a/b": {"id": 8, "name": "slash"}}, next: 9}
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)
	return api, ts
}

func (a *petAPI) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.seen...)
}

func (a *petAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, r)
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case path == "/pets" && r.Method == http.MethodGet:
		out := []map[string]any{}
		for _, p := range a.pets {
			out = append(out, p)
		}
		if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l < len(out) {
			out = out[:l]
		}
		_ = json.NewEncoder(w).Encode(out)
	case path == "/pets" && r.Method == http.MethodPost:
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		p["id"] = a.next
		a.pets[strconv.Itoa(a.next)] = p
		a.next++
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(p)
	case strings.HasPrefix(path, "/pets/"):
		id, _ := strings.CutPrefix(path, "/pets/")
		id = strings.ReplaceAll(id, "%2F", "/")
		p, ok := a.pets[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"no pet `+id+`"}`)
			return
		}
		if r.Method == http.MethodDelete {
			delete(a.pets, id)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_ = json.NewEncoder(w).Encode(p)
	case path == "/tree":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "tree of "+strconv.Itoa(len(body))+" bytes")
	default:
		w.WriteHeader(http.StatusTeapot)
	}
}

func toolsByName(t testing.TB, cs *sdk.ClientSession) map[string]*sdk.Tool {
	t.Helper()
	out := map[string]*sdk.Tool{}
	for tool, err := range cs.Tools(ctxT(t), nil) {
		require.NoError(t, err)
		out[tool.Name] = tool
	}
	return out
}

// TestOpenAPITargetThroughGateway: a REST API described by OpenAPI, federated beside a go-sdk server,
// is listed and called through the gateway by a go-sdk client: schemas built from the parameters and
// body ($refs resolved, readOnly dropped, required honoured), path escaping, query and header
// parameters, JSON as structuredContent, a non-2xx status as isError, and invalid arguments refused
// before any request.
func TestOpenAPITargetThroughGateway(t *testing.T) {
	api, rest := newPetAPI(t)
	f := mcp.Federate(
		mcp.OpenAPITarget("pets", []byte(petstoreSpec), mcp.OpenAPIBaseURL(rest.URL)),
		mcp.ServerTarget("demo", demoServer("demo")),
	)
	gw := gateway(t, f)
	cs := connect(t, gw.URL+"/mcp", nil)

	tools := toolsByName(t, cs)
	for _, n := range []string{"pets_listPets", "pets_createPet", "pets_getPet", "pets_delete_pets_petId", "pets_putTree", "demo_echo"} {
		require.Contains(t, tools, n)
	}
	assert.Equal(t, "List pets\n\nPets in the store, optionally by tag.", tools["pets_listPets"].Description)
	assert.True(t, tools["pets_getPet"].Annotations.ReadOnlyHint)

	var create map[string]any
	require.NoError(t, json.Unmarshal(mustJSON(t, tools["pets_createPet"].InputSchema), &create))
	body := create["properties"].(map[string]any)["body"].(map[string]any)
	assert.Equal(t, []any{"body"}, create["required"])
	assert.NotContains(t, string(mustJSON(t, create)), "$ref", "the NewPet $ref is inlined")
	assert.NotContains(t, body["properties"], "id", "readOnly properties are not sent")
	assert.Equal(t, []any{"name"}, body["required"])
	assert.Equal(t, []any{"string", "null"}, body["properties"].(map[string]any)["tag"].(map[string]any)["type"], "3.0 nullable as a JSON Schema type")

	var get map[string]any
	require.NoError(t, json.Unmarshal(mustJSON(t, tools["pets_getPet"].InputSchema), &get))
	assert.Equal(t, []any{"petId"}, get["required"])
	assert.Equal(t, "The pet's id.", get["properties"].(map[string]any)["petId"].(map[string]any)["description"])

	tree := string(mustJSON(t, tools["pets_putTree"].InputSchema))
	assert.Contains(t, tree, `"$ref":"#/$defs/Node"`, "a recursive schema refers to the tool's own $defs")

	// A GET with path, query and header parameters; JSON comes back as structuredContent too.
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_getPet", Arguments: map[string]any{"petId": "7"}})
	require.NoError(t, err)
	require.False(t, res.IsError, text(t, res))
	assert.JSONEq(t, `{"id":7,"name":"rex","tag":"dog"}`, text(t, res))
	assert.Equal(t, map[string]any{"id": float64(7), "name": "rex", "tag": "dog"}, res.StructuredContent)

	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_getPet", Arguments: map[string]any{"petId": 7}})
	require.NoError(t, err)
	require.False(t, res.IsError, "a number for a string parameter is taken as its text: %s", text(t, res))

	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_getPet", Arguments: map[string]any{"petId": "a/b"}})
	require.NoError(t, err)
	require.False(t, res.IsError, text(t, res))
	assert.Contains(t, text(t, res), "slash", "a '/' in a path parameter is escaped, not a path separator")

	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_listPets", Arguments: map[string]any{"limit": 1, "tags": []string{"a", "b c"}, "X-Request-Id": "req-1"}})
	require.NoError(t, err)
	require.False(t, res.IsError, text(t, res))
	assert.Len(t, res.StructuredContent.(map[string]any)["result"], 1, "an array answer is wrapped as {result: ...}")
	last := api.requests()[len(api.requests())-1]
	assert.Equal(t, "/api/v1/pets", last.URL.Path, "the spec server's base path is kept under the configured host")
	assert.Equal(t, []string{"a", "b c"}, last.URL.Query()["tags"])
	assert.Equal(t, "1", last.URL.Query().Get("limit"))
	assert.Equal(t, "req-1", last.Header.Get("X-Request-Id"))

	// A POST with a JSON body.
	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_createPet", Arguments: map[string]any{"body": map[string]any{"name": "tom", "tag": nil}}})
	require.NoError(t, err)
	require.False(t, res.IsError, text(t, res))
	assert.Equal(t, "tom", res.StructuredContent.(map[string]any)["name"])
	last = api.requests()[len(api.requests())-1]
	assert.Equal(t, "application/json", last.Header.Get("Content-Type"))

	// A non-2xx status is a tool error with the status and body.
	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_getPet", Arguments: map[string]any{"petId": "404"}})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Contains(t, text(t, res), "HTTP 404 Not Found")
	assert.Contains(t, text(t, res), `no pet 404`)

	// Invalid arguments are a tool error (SEP-1303) and send nothing.
	before := len(api.requests())
	for _, args := range []map[string]any{
		{},                                   // petId missing
		{"petId": []string{"7"}},             // wrong type
		{"petId": "7", "unknown": "ignored"}, // (valid: extra properties are allowed)
	} {
		res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_getPet", Arguments: args})
		require.NoError(t, err)
		if _, extra := args["unknown"]; extra {
			assert.False(t, res.IsError, text(t, res))
			before++
			continue
		}
		assert.True(t, res.IsError, "%v", args)
		assert.Contains(t, text(t, res), "invalid arguments")
	}
	for _, args := range []map[string]any{
		{"body": map[string]any{"name": ""}}, // minLength
		{"body": map[string]any{"tag": "x"}}, // name required
		{"limit": 0},                         // not a createPet argument: body missing
	} {
		res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_createPet", Arguments: args})
		require.NoError(t, err)
		assert.True(t, res.IsError, "%v", args)
		assert.Contains(t, text(t, res), "invalid arguments")
	}
	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "pets_listPets", Arguments: map[string]any{"limit": 500}})
	require.NoError(t, err)
	assert.True(t, res.IsError, "maximum")
	assert.Len(t, api.requests(), before, "no request for invalid arguments")

	// The other target works beside it.
	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "demo_echo", Arguments: map[string]any{"text": "hi"}})
	require.NoError(t, err)
	assert.Equal(t, "demo:hi", text(t, res))
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestOpenAPITargetPolicies: tool filters and mcpAuthorization apply to an OpenAPI target's tools as
// to any target's, and the target's BackendAuth and Headers reach the REST API.
func TestOpenAPITargetPolicies(t *testing.T) {
	api, rest := newPetAPI(t)
	auth, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: "rest-secret"}})
	require.NoError(t, err)
	tg := mcp.OpenAPITarget("pets", []byte(petstoreSpec), mcp.OpenAPIBaseURL(rest.URL+"/api/v1"))
	tg.BackendAuth = auth
	tg.Headers = http.Header{"X-Tenant": {"t1"}}
	tg.Tools.Exclude = []string{"delete_*"}
	rules := cel.MustCompileRules(cel.Deny(`mcp.tool.name == "createPet"`))
	f := mcp.Federate(tg)
	gw := agentgateway.New()
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(mcp.Authorization(rules)).To(f))
	ts := newServer(t, gw, f)
	cs := connect(t, ts.URL+"/mcp", nil)

	tools := toolsByName(t, cs)
	assert.NotContains(t, tools, "delete_pets_petId")
	assert.NotContains(t, tools, "createPet")
	assert.Contains(t, tools, "getPet", "one target: no prefix (conditional)")

	for _, denied := range []string{"createPet", "delete_pets_petId"} {
		_, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: denied, Arguments: map[string]any{"petId": "7", "body": map[string]any{"name": "x"}}})
		require.Error(t, err, denied)
	}
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "getPet", Arguments: map[string]any{"petId": "7"}})
	require.NoError(t, err)
	require.False(t, res.IsError, text(t, res))
	reqs := api.requests()
	require.Len(t, reqs, 1, "denied calls send nothing")
	assert.Equal(t, "Bearer rest-secret", reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "t1", reqs[0].Header.Get("X-Tenant"))
	assert.Equal(t, "/api/v1/pets/7", reqs[0].URL.Path, "a base URL with a path is used as given")
}

// TestOpenAPITargetLimits: a response over the size bound and a call over the time bound are tool
// errors, and a cancelled call stops the REST request.
func TestOpenAPITargetLimits(t *testing.T) {
	release := make(chan struct{})
	started, stopped := make(chan struct{}, 4), make(chan struct{}, 4)
	rest := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, strings.Repeat("x", 4096))
		case "/slow":
			started <- struct{}{}
			select {
			case <-r.Context().Done():
				stopped <- struct{}{}
			case <-release:
			}
		}
	}))
	defer close(release)
	spec := `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{
	  "/big":{"get":{"operationId":"big","responses":{"200":{"description":"ok"}}}},
	  "/slow":{"get":{"operationId":"slow","responses":{"200":{"description":"ok"}}}}}}`
	f := mcp.Federate(mcp.OpenAPITarget("x", []byte(spec), mcp.OpenAPIBaseURL(rest.URL),
		mcp.OpenAPIMaxResponseBytes(1024), mcp.OpenAPITimeout(500*time.Millisecond)))
	gw := gateway(t, f)
	cs := connect(t, gw.URL+"/mcp", nil)

	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "big"})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Contains(t, text(t, res), "larger than 1024 bytes")

	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "slow"})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Contains(t, text(t, res), "deadline exceeded")
	<-started
	<-stopped

	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "slow"})
		done <- err
	}()
	<-started
	cancel()
	err = <-done
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	<-stopped // the REST request was abandoned too (the test times out if it is not)
}

// TestOpenAPITargetBadSpecs: documents that cannot be used are reported by Validate, matchably.
func TestOpenAPITargetBadSpecs(t *testing.T) {
	for name, spec := range map[string]string{
		"garbage":      "{{{",
		"swagger2":     `{"swagger":"2.0","info":{"title":"t","version":"1"},"paths":{}}`,
		"external ref": `{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"http://x"}],"paths":{"/a":{"get":{"parameters":[{"$ref":"other.yaml#/p"}],"responses":{"200":{"description":"ok"}}}}}}`,
		"invalid":      `{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{}}}}}}`,
		"relative":     `{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"/api"}],"paths":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := mcp.Federate(mcp.OpenAPITarget("x", []byte(spec)))
			defer f.Close()
			err := f.Validate()
			require.Error(t, err)
			assert.ErrorIs(t, err, mcp.ErrOpenAPISpec)
		})
	}
	f := mcp.Federate(mcp.OpenAPITarget("x", []byte(`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"/api"}],"paths":{}}`),
		mcp.OpenAPISpecLocation("http://example.test/specs/openapi.json")))
	defer f.Close()
	assert.NoError(t, f.Validate(), "a relative server URL resolves against the document's location")
}

// TestOpenAPITargetRedirects: a redirect on the API's host is followed with the credentials; one to
// another host is not followed (the 3xx is a tool error), so backend credentials never leave.
func TestOpenAPITargetRedirects(t *testing.T) {
	elsewhere := make(chan string, 4)
	other := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere <- r.Header.Get("Authorization")
	}))
	var finalAuth string
	api := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
		case "/final":
			finalAuth = r.Header.Get("Authorization")
			_, _ = io.WriteString(w, "arrived")
		}
	}))
	spec := `{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{
	  "/away":{"get":{"operationId":"away","responses":{"200":{"description":"ok"}}}},
	  "/here":{"get":{"operationId":"here","responses":{"200":{"description":"ok"}}}}}}`
	auth, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: "api-secret"}})
	require.NoError(t, err)
	tg := mcp.OpenAPITarget("r", []byte(spec), mcp.OpenAPIBaseURL(api.URL))
	tg.BackendAuth = auth
	gw := gateway(t, mcp.Federate(tg))
	cs := connect(t, gw.URL+"/mcp", nil)

	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "here"})
	require.NoError(t, err)
	require.False(t, res.IsError, text(t, res))
	assert.Equal(t, "arrived", text(t, res))
	assert.Equal(t, "Bearer api-secret", finalAuth)

	res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "away"})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Contains(t, text(t, res), "HTTP 302")
	assert.Empty(t, elsewhere, "the other host got no request")
}

// TestOpenAPITargetStatelessRouteAuth: in a stateless federation a route's backend-auth policy reaches
// the REST API, and a target with ForwardAuthorization (on a route without one) gets the client's own
// Authorization.
func TestOpenAPITargetStatelessRouteAuth(t *testing.T) {
	api, rest := newPetAPI(t)
	routeAuth, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: "route-key"}})
	require.NoError(t, err)
	fwd := mcp.OpenAPITarget("fwd", []byte(petstoreSpec), mcp.OpenAPIBaseURL(rest.URL))
	fwd.ForwardAuthorization = true
	withAuth := mcp.New(mcp.Config{Stateless: true, Targets: []mcp.Target{mcp.OpenAPITarget("pets", []byte(petstoreSpec), mcp.OpenAPIBaseURL(rest.URL))}})
	forwarding := mcp.New(mcp.Config{Stateless: true, Targets: []mcp.Target{fwd}})
	t.Cleanup(func() { _ = forwarding.Close() })
	gw := agentgateway.New()
	require.NoError(t, gw.Route("auth").PathPrefix("/auth").Use(routeAuth).To(withAuth))
	require.NoError(t, gw.Route("fwd").PathPrefix("/fwd").To(forwarding))
	ts := newServer(t, gw, withAuth)

	for _, path := range []string{"/auth", "/fwd"} {
		r := do(t, http.MethodPost, ts.URL+path, "", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"getPet","arguments":{"petId":"7"}}}`, "Authorization", "Bearer client-token")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		assert.Contains(t, string(r.body), `rex`, path)
	}
	reqs := api.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "Bearer route-key", reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "Bearer client-token", reqs[1].Header.Get("Authorization"))
}

// TestOpenAPITargetPerCallCredentials: in a stateful session each REST call carries the credentials
// of the client request that made it, as an HTTP target's request does, not those of the request
// that opened the session; and a client cannot pick another call's credentials through _meta.
func TestOpenAPITargetPerCallCredentials(t *testing.T) {
	api, rest := newPetAPI(t)
	tg := mcp.OpenAPITarget("pets", []byte(petstoreSpec), mcp.OpenAPIBaseURL(rest.URL))
	tg.ForwardAuthorization = true
	gw := gateway(t, mcp.Federate(tg))
	url := gw.URL + "/mcp"

	r := do(t, http.MethodPost, url, "", initBody, "Authorization", "Bearer at-open")
	require.Equal(t, http.StatusOK, r.status)
	sid := r.header.Get("Mcp-Session-Id")
	for i, tok := range []string{"first", "second"} {
		call := `{"jsonrpc":"2.0","id":` + strconv.Itoa(i+2) + `,"method":"tools/call","params":{"name":"getPet","arguments":{"petId":"7"},"_meta":{"dev.agentgateway/call":"forged"}}}`
		r = do(t, http.MethodPost, url, sid, call, "Authorization", "Bearer "+tok)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		assert.Contains(t, string(r.body), "rex")
	}
	reqs := api.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "Bearer first", reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "Bearer second", reqs[1].Header.Get("Authorization"))
}

// TestOpenAPITargetExactNumbers: integers beyond float64's exact range reach the API as written, in
// the path, the query and the body.
func TestOpenAPITargetExactNumbers(t *testing.T) {
	var got []string
	var mu sync.Mutex
	rest := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.RequestURI(), string(b))
		mu.Unlock()
	}))
	spec := `{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/n/{n}":{"post":{"operationId":"n",
	  "parameters":[{"name":"n","in":"path","required":true,"schema":{"type":"integer"}},{"name":"q","in":"query","schema":{"type":"integer"}}],
	  "requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"v":{"type":"integer"}}}}}},
	  "responses":{"200":{"description":"ok"}}}}}}`
	gw := gateway(t, mcp.Federate(mcp.OpenAPITarget("x", []byte(spec), mcp.OpenAPIBaseURL(rest.URL))))
	cs := connect(t, gw.URL+"/mcp", nil)
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "n", Arguments: json.RawMessage(`{"n":9007199254740993,"q":9007199254740995,"body":{"v":9007199254740997}}`)})
	require.NoError(t, err)
	require.False(t, res.IsError, text(t, res))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"/n/9007199254740993?q=9007199254740995", `{"v":9007199254740997}`}, got)
}
