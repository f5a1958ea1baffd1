package config_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

// OTLP log export needs a collector: its own host or the tracing one; mistakes are reported at
// their path, and no provider is built when nothing asks for one.
func TestLoggingOTLPConfig(t *testing.T) {
	load := func(s string) (*config.File, error) { return config.Load([]byte(s+"\nbinds: []\n"), nil) }
	f, err := load("config: {}")
	require.NoError(t, err)
	lp, err := f.LoggerProvider(context.Background())
	require.NoError(t, err)
	assert.Nil(t, lp)

	for cfg, want := range map[string]string{
		"config: {logging: {otlp: {}}}":                                                              "config.logging.otlp.host",
		"config: {logging: {otlp: {host: x:1, protocol: udp}}}":                                      "config.logging.otlp.protocol",
		"frontendPolicies: {accessLog: {otlp: {protocol: udp}}}":                                     "frontendPolicies.accessLog.otlp.protocol",
		"config: {logging: {otlp: {host: x:1}}}\nfrontendPolicies: {accessLog: {otlp: {host: y:1}}}": "not both",
	} {
		f, err := load(cfg)
		if err == nil {
			_, err = f.LoggerProvider(context.Background())
		}
		require.Error(t, err, cfg)
		assert.Contains(t, err.Error(), want, cfg)
	}

	f, err = load("frontendPolicies: {tracing: {host: 127.0.0.1:1}, logging: {otlp: {protocol: http}}}")
	require.NoError(t, err)
	lp, err = f.LoggerProvider(context.Background())
	require.NoError(t, err)
	require.NotNil(t, lp)
	require.NoError(t, lp.Shutdown(context.Background()))
}
