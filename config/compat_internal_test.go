package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// compatSections maps each section of the compatibility table to the schema definition whose keys it
// lists ("" is the top level).
var compatSections = map[string]string{
	"": "", "config": "RawConfig", "frontendPolicies": "LocalFrontendPolicies", "binds": "LocalBind",
	"listener": "LocalListener", "tls": "LocalTLSServerConfig", "gateways": "LocalGateway",
	"gatewayListener": "LocalGatewayListener", "route": "LocalAttachedRoute", "policies": "FilterOrPolicy",
	"backend": "LocalRouteBackend", "backendPolicies": "LocalBackendPolicies", "backends": "FullLocalBackend",
	"mcp": "LocalSimpleMcpConfig", "llm": "LocalLLMConfig",
}

func schemaKeys(t *testing.T) map[string][]string {
	t.Helper()
	path := os.Getenv("AGW_SCHEMA")
	if path == "" {
		path = filepath.Join("..", "..", "shared", "agentgateway-schema", "config.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("agentgateway schema not found (%v); set AGW_SCHEMA", err)
	}
	type obj struct {
		Properties map[string]any `json:"properties"`
		OneOf      []obj          `json:"oneOf"`
	}
	var doc struct {
		obj
		Defs map[string]obj `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	out := map[string][]string{}
	for sec, def := range compatSections {
		o := doc.obj
		if def != "" {
			o = doc.Defs[def]
		}
		for _, x := range append([]obj{o}, o.OneOf...) {
			for k := range x.Properties {
				if !slices.Contains(out[sec], k) {
					out[sec] = append(out[sec], k)
				}
			}
		}
		require.NotEmpty(t, out[sec], def)
	}
	return out
}

func splitKey(key string) (section, name string) {
	if i := strings.Index(key, "."); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

// Every key of the schema's sections has exactly one row, and every row is a key of the schema: a key
// added to the schema fails this test until it is classified.
func TestCompatibilityCoversSchema(t *testing.T) {
	keys := schemaKeys(t)
	seen := map[string]bool{}
	for _, r := range Compatibility {
		require.False(t, seen[r.Key], "row %s twice", r.Key)
		seen[r.Key] = true
		sec, name := splitKey(r.Key)
		require.Contains(t, keys, sec, r.Key)
		if NewerThanSchema[r.Key] {
			// Once the schema has the key, it is an ordinary row.
			assert.NotContains(t, keys[sec], name, "row %s is in the schema now: drop it from NewerThanSchema", r.Key)
		} else {
			assert.Contains(t, keys[sec], name, "row %s is not a key of the schema", r.Key)
		}
		if r.Support != Supported {
			assert.NotEmpty(t, r.Note, "row %s must say what differs or why not", r.Key)
		}
	}
	for sec, ks := range keys {
		for _, k := range ks {
			key := k
			if sec != "" {
				key = sec + "." + k
			}
			assert.True(t, seen[key], "schema key %s has no row in Compatibility", key)
		}
	}
}

// The table agrees with what the code serves: policy keys and backend kinds with the tables that build
// them, config and frontendPolicies keys with the settings, tls keys with TLSSpec.
func TestCompatibilityMatchesTheCode(t *testing.T) {
	policies := map[string]bool{}
	for _, s := range policyTable() {
		policies[s.Key] = true
	}
	kinds := map[string]bool{"backend": true, "weight": true, "policies": true, "name": true, "routeGroup": true, "http": true}
	for _, s := range backendTable() {
		kinds[s.Key] = true
	}
	tops := map[string]bool{"binds": true, "backends": true, "config": true, "frontendPolicies": true}
	for k := range newSchemaKeys {
		tops[k] = true
	}
	for _, s := range topTable() {
		tops[s.Key] = true
	}
	tlsFields := structFields(reflect.TypeFor[TLSSpec]())
	for _, r := range Compatibility {
		sec, name := splitKey(r.Key)
		served := r.Support != NotSupported
		switch sec {
		case "":
			assert.Equal(t, tops[name], served, r.Key)
		case "policies":
			assert.Equal(t, policies[name] || name == "backendTunnel", served, r.Key) // taken to the route's backends
		case "backendPolicies":
			assert.Equal(t, policies[name] || slices.Contains(backendShapingKeys, name), served, r.Key)
		case "backend", "backends":
			assert.Equal(t, kinds[name], served, r.Key)
		case "config":
			assert.Equal(t, !slices.Contains(UnsupportedSettings, name), served, r.Key)
		case "frontendPolicies":
			assert.Equal(t, !slices.Contains(unsupportedFrontend, name), served, r.Key)
		case "tls":
			_, ok := tlsFields[name]
			assert.Equal(t, ok, served, r.Key)
		case "gateways", "gatewayListener":
			if slices.Contains(gatewayPolicyKeys, name) {
				assert.Equal(t, policies[name], served, r.Key)
			}
		}
	}
}

// docs/compatibility.md is the table. AGW_UPDATE_COMPAT=1 rewrites it.
func TestCompatibilityDoc(t *testing.T) {
	const path = "../docs/compatibility.md"
	want := CompatibilityMarkdown()
	if os.Getenv("AGW_UPDATE_COMPAT") != "" {
		b, _ := os.ReadFile(path)
		doc := string(b)
		if i := strings.Index(doc, "| key | support |"); i >= 0 {
			doc = doc[:i]
		}
		require.NoError(t, os.WriteFile(path, []byte(doc+want), 0o644))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(string(b), want), "docs/compatibility.md is out of date: run AGW_UPDATE_COMPAT=1 go test ./config -run TestCompatibilityDoc")
}

// backendShapingKeys are the backend policies taken out of a backend's policies and handed to its
// builder, as they shape the backend itself rather than wrap it.
var backendShapingKeys = []string{"health", "inferenceRouting", "backendTunnel", "http", "tcp"}
