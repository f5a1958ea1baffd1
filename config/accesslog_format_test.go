package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

// frontendPolicies.logging's newer spelling: format and fields.add/remove map onto the access log,
// and mistakes in them are reported at their path.
func TestFrontendLoggingNewerSpelling(t *testing.T) {
	f, err := config.Load([]byte(`
frontendPolicies:
  logging:
    format: json
    add: {a: '"1"'}
    remove: [source]
    fields: {add: {b: 'backend.name'}, remove: [route]}
binds: [{port: 1, listeners: [{routes: [{policies: {directResponse: {status: 200}}}]}]}]
`), nil)
	require.NoError(t, err)
	assert.Equal(t, "json", f.AccessLogFormat())
	opts, err := f.AccessLogOptions()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"source", "route"}, opts.Remove)
	assert.NotNil(t, opts.Fields)

	for cfg, want := range map[string]string{
		`{format: xml}`: "frontendPolicies.accessLog.format",
		`{add: {a: '"1"'}, fields: {add: {a: '"2"'}}}`: "frontendPolicies.accessLog.fields.add.a",
		`{fields: {add: {a: 'nope(('}}}`:               "frontendPolicies.accessLog.fields.add.a",
	} {
		_, err := config.Load([]byte("frontendPolicies:\n  logging: "+cfg+"\nbinds: []\n"), nil)
		require.Error(t, err, cfg)
		assert.Contains(t, err.Error(), want, cfg)
	}
}
