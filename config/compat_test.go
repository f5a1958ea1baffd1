package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

// refusalYAML returns a config that sets key, for the sections whose keys can be set alone.
func refusalYAML(key string) (string, bool) {
	sec, name, _ := strings.Cut(key, ".")
	if name == "" {
		return key + ": {}\n", true
	}
	route := func(policies, backend string) string {
		return "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - policies: " + policies + "\n      backends: [" + backend + "]\n"
	}
	switch sec {
	case "config":
		return "config:\n  " + name + ": null\n", true
	case "frontendPolicies":
		return "frontendPolicies:\n  " + name + ": {}\n", true
	case "policies":
		return route("{"+name+": {}}", `{host: "127.0.0.1:1"}`), true
	case "backendPolicies":
		return route("{}", `{host: "127.0.0.1:1", policies: {`+name+`: {}}}`), true
	case "backend":
		return route("{}", "{"+name+": {}}"), true
	case "backends":
		return "backends: [{name: b, " + name + ": {}}]\n", true
	case "listener":
		return "binds:\n- port: 3000\n  listeners:\n  - " + name + ": []\n", true
	case "tls":
		return "binds:\n- port: 3000\n  listeners:\n  - protocol: HTTPS\n    tls: {cert: c, key: k, " + name + ": x}\n", true
	case "gateways":
		return "gateways: {default: {port: 3000, " + name + ": {}}}\n", true
	case "gatewayListener":
		return "gateways: {default: {port: 3000, listeners: [{name: l, " + name + ": {}}]}}\n", true
	case "llm":
		return "llm:\n  models: []\n  " + name + ": {}\n", true
	}
	return "", false
}

// Every key the table marks not supported is refused by Load/Build — what --validate and startup
// run — at its path, with the table's sentence, and the error matches config.ErrUnsupported.
func TestRefusalsUseTheTablesWords(t *testing.T) {
	for _, r := range config.Compatibility {
		if r.Support != config.NotSupported {
			continue
		}
		t.Run(r.Key, func(t *testing.T) {
			y, ok := refusalYAML(r.Key)
			require.True(t, ok, "no config for %s", r.Key)
			_, err := build(t, y, nil)
			require.Error(t, err, y)
			want := r.Key + " is not supported yet"
			if r.Note != "" {
				want += ": " + r.Note
			}
			assert.Contains(t, err.Error(), want)
			assert.True(t, errors.Is(err, config.ErrUnsupported), err.Error())
		})
	}
}

// servedBy names, for each row the table says is served, the tests that build a gateway from a
// config using the key and send requests through it. Rows of a section are proved by the section's
// tests when every key of it is exercised there.
var servedBy = map[string][]string{
	"config":           {"TestAccessLogFromConfig", "TestSessionKeyContinuesSessionAcrossReplicas"},
	"binds":            {"TestSampleConfig"},
	"frontendPolicies": {"TestFrontendHTTPLimits", "TestFrontendTracing"},
	"workloads":        {"TestServicesAndWorkloadsServed"},
	"services":         {"TestServicesAndWorkloadsServed"},
	"backends":         {"TestMCPNamedBackendSharedByRoutes"},
	"gateways":         {"TestGatewaysAndAttachedRoutesServed"},
	"routes":           {"TestGatewaysAndAttachedRoutesServed"},
	"routeGroups":      {"TestRouteGroupsServed"},
	"policies":         {"TestTargetedPoliciesServed"},
	"llm":              {"TestLLMShortForm", "TestShortFormsAttachToGateways"},
	"mcp":              {"TestMCPShortFormFromYAML", "TestShortFormsAttachToGateways"},

	"config.adminAddr":                     {"TestBinaryObservability"},
	"config.statsAddr":                     {"TestBinaryObservability", "TestMeterProviderPrometheus"},
	"config.histograms":                    {"TestMeterProviderPrometheus"},
	"config.readinessAddr":                 {"TestBinaryObservability"},
	"config.session":                       {"TestSessionKeyContinuesSessionAcrossReplicas"},
	"config.mcp":                           {"TestMCPSessionTTL"},
	"config.sensitiveHeaders":              {"TestDumpRedactsSensitiveHeaders"},
	"config.connectionTerminationDeadline": {"TestConnectionTerminationDeadlineAndLevelFromConfig"},
	"config.tracing":                       {"TestTracingExportsToOTLPReceiver", "TestTracingSamplingByCEL"},
	"config.logging":                       {"TestAccessLogFromConfig", "TestLoggingOTLPExportsAccessLog"},
	"config.metrics":                       {"TestMetricFieldsReachPrometheus"},

	"frontendPolicies.networkExtAuthz": {"TestNetworkExtAuthzFromYAML", "TestNetworkExtAuthzFailureMode"},
	"frontendPolicies.http":            {"TestFrontendHTTPLimits", "TestFrontendMaxBufferSizeFromYAML", "TestFrontendMaxBufferSizeBoundsCELBody"},
	"frontendPolicies.accessLog":       {"TestAccessLogFromConfig", "TestFrontendLoggingFormatAndFields"},
	"frontendPolicies.logging":         {"TestAccessLogFromConfig", "TestFrontendLoggingFormatAndFields"},
	"frontendPolicies.tracing":         {"TestFrontendTracing"},

	"binds.port":           {"TestSampleConfig"},
	"binds.listeners":      {"TestSampleConfig"},
	"binds.tunnelProtocol": {"TestSampleConfig"},
	"binds.mode":           {"TestSampleConfig"},

	"listener.name":      {"TestSampleConfig"},
	"listener.namespace": {"TestSampleConfig"},
	"listener.hostname":  {"TestHTTPSListenersCarryTheirTLS"},
	"listener.protocol":  {"TestHTTPSListenersCarryTheirTLS", "TestHTTPSListener"},
	"listener.tls":       {"TestHTTPSListenersCarryTheirTLS", "TestHTTPSListener"},
	"listener.routes":    {"TestSampleConfig"},
	"listener.policies":  {"TestListenerPoliciesRunBeforeRoutePolicies"},

	"tls.cert": {"TestHTTPSListener"},
	"tls.key":  {"TestHTTPSListener"},
	"tls.root": {"TestHTTPSListenersCarryTheirTLS"},

	"gateways.port":            {"TestGatewaysAndAttachedRoutesServed"},
	"gateways.protocol":        {"TestGatewaysAndAttachedRoutesServed"},
	"gateways.listeners":       {"TestGatewaysAndAttachedRoutesServed"},
	"gateways.tls":             {"TestGatewayPoliciesServed"},
	"gateways.oidc":            {"TestOIDCFromYAML"}, // the route policy builder; attachment as for the other gateway policies
	"gateways.jwtAuth":         {"TestGatewayPoliciesServed"},
	"gateways.authorization":   {"TestGatewayPoliciesServed"},
	"gateways.extAuthz":        {"TestGatewayPoliciesServed"},
	"gateways.extProc":         {"TestExtProcOnGatewayAndConditional"},
	"gateways.cors":            {"TestGatewayPoliciesServed"},
	"gateways.transformations": {"TestGatewayPoliciesServed"},
	"gateways.basicAuth":       {"TestGatewayPoliciesServed"},
	"gateways.apiKey":          {"TestListenerPoliciesRunBeforeRoutePolicies"},

	"gatewayListener.name":            {"TestGatewaysAndAttachedRoutesServed"},
	"gatewayListener.hostname":        {"TestGatewaysAndAttachedRoutesServed"},
	"gatewayListener.protocol":        {"TestGatewayPoliciesServed"},
	"gatewayListener.tls":             {"TestGatewayPoliciesServed"},
	"gatewayListener.oidc":            {"TestOIDCFromYAML"},
	"gatewayListener.jwtAuth":         {"TestGatewayPoliciesServed"},
	"gatewayListener.authorization":   {"TestGatewayPoliciesServed"},
	"gatewayListener.extAuthz":        {"TestGatewayPoliciesServed"},
	"gatewayListener.extProc":         {"TestExtProcOnGatewayAndConditional"},
	"gatewayListener.cors":            {"TestGatewayPoliciesServed"},
	"gatewayListener.transformations": {"TestGatewayPoliciesServed"},
	"gatewayListener.basicAuth":       {"TestGatewayPoliciesServed"},
	"gatewayListener.apiKey":          {"TestListenerPoliciesRunBeforeRoutePolicies"},

	"route.gateways":  {"TestGatewaysAndAttachedRoutesServed"},
	"route.name":      {"TestSampleConfig"},
	"route.namespace": {"TestSampleConfig"},
	"route.ruleName":  {"TestSampleConfig"},
	"route.hostnames": {"TestSampleConfig"},
	"route.matches":   {"TestSampleConfig"},
	"route.policies":  {"TestSampleConfig"},
	"route.backends":  {"TestSampleConfig"},

	"policies.requestHeaderModifier":  {"TestSampleConfig"},
	"policies.responseHeaderModifier": {"TestSampleConfig"},
	"policies.requestRedirect":        {"TestSampleConfig"},
	"policies.urlRewrite":             {"TestSampleConfig"},
	"policies.requestMirror":          {"TestPolicySectionsFromYAML"},
	"policies.directResponse":         {"TestSampleConfig", "TestConditionalDirectResponseFromYAML"},
	"policies.cors":                   {"TestPolicySectionsFromYAML"},
	"policies.mcpAuthorization":       {"TestMCPBackendFromYAML"},
	"policies.mcpGuardrails":          {"TestMCPGuardrailsServed", "TestMCPGuardrailsFailClosed"},
	"policies.authorization":          {"TestPolicySectionsFromYAML"},
	"policies.mcpRemoteRateLimit":     {"TestMCPRemoteRateLimitFromYAML"},
	"policies.mcpAuthentication":      {"TestMCPAuthenticationFromYAML", "TestMCPAuthenticationThroughTheBinary"},
	"policies.a2a":                    {"TestA2APolicyFromYAML"},
	"policies.backendTLS":             {"TestOpenAPITargetFromYAML"},
	"policies.backendTunnel":          {"TestRouteBackendTunnelFromYAML"},
	"policies.backendAuth":            {"TestMCPBackendAuthFromYAML", "TestMCPBackendAuthPassthroughFromYAML", "TestTokenExchangeEnforceMayActFromYAML", "TestOAuthBackendAuthVariants"},
	"policies.localRateLimit":         {"TestPolicySectionsFromYAML"},
	"policies.jwtAuth":                {"TestPolicySectionsFromYAML"},
	"policies.oidc":                   {"TestOIDCFromYAML", "TestOIDCThroughTheBinary"},
	"policies.oauth2":                 {"TestOAuth2FromYAML", "TestOAuth2WithoutSignOutPath", "TestOAuth2YAMLErrors"},
	"policies.basicAuth":              {"TestGatewayPoliciesServed", "TestHTTPBackendAndHtpasswdFile"},
	"policies.apiKey":                 {"TestListenerPoliciesRunBeforeRoutePolicies"},
	"policies.extAuthz":               {"TestGatewayPoliciesServed", "TestBackendPoliciesServed", "TestTrustScoringSpellings"},
	"policies.extProc":                {"TestExtProcServed", "TestExtProcClientDisconnectEndsStream", "TestExtProcInLLMPolicies", "TestExtProcInMCPPolicies", "TestExtProcBackendTLS"},
	"policies.transformations":        {"TestPolicySectionsFromYAML"},
	"policies.csrf":                   {"TestCSRFFromYAML"},
	"policies.buffer":                 {"TestBufferFromYAML"},
	"policies.timeout":                {"TestPolicySectionsFromYAML"},
	"policies.retry":                  {"TestPolicySectionsFromYAML", "TestRetryDefaultsToOneAttempt"},
	"policies.delay":                  {"TestDelayFromYAML"},

	"backend.weight":     {"TestSampleConfig"},
	"backend.policies":   {"TestMCPBackendAuthFromYAML", "TestBackendHealthEvictsByExpression"},
	"backend.service":    {"TestServicesAndWorkloadsServed"},
	"backend.backend":    {"TestMCPNamedBackendSharedByRoutes"},
	"backend.host":       {"TestSampleConfig"},
	"backend.http":       {"TestHTTPBackendAndHtpasswdFile"},
	"backend.routeGroup": {"TestRouteGroupsServed"},
	"backend.dynamic":    {"TestDynamicBackendTargetFromCEL", "TestDynamicBackendRefusesPrivateTargets"},
	"backend.mcp":        {"TestMCPBackendFromYAML", "TestTrustScoringSpellings"},
	"backend.ai":         {"TestAIBackend"},

	"backendPolicies.requestHeaderModifier":  {"TestBackendPoliciesServed"},
	"backendPolicies.transformations":        {"TestBackendPoliciesServed"},
	"backendPolicies.backendTLS":             {"TestOpenAPITargetFromYAML"},
	"backendPolicies.backendAuth":            {"TestMCPBackendAuthFromYAML"},
	"backendPolicies.responseHeaderModifier": {"TestBackendPoliciesServed"},
	"backendPolicies.requestRedirect":        {"TestBackendPoliciesServed"},
	"backendPolicies.http":                   {"TestBackendHTTPVersionFromYAML", "TestBackendRequestTimeoutFromYAML"},
	"backendPolicies.tcp":                    {"TestBackendConnectTimeoutFromYAML", "TestBackendKeepalivesFromYAML"},
	"backendPolicies.health":                 {"TestBackendHealthEvictsByExpression", "TestBackendHealthScoreEvictsAndRestores"},
	"backendPolicies.extAuthz":               {"TestBackendPoliciesServed"},
	"backendPolicies.authorization":          {"TestBackendPoliciesServed"},
	"backendPolicies.mcpAuthorization":       {"TestBackendPoliciesServed"},
	"backendPolicies.mcpGuardrails":          {"TestMCPGuardrailsBackendPolicy"},
	"backendPolicies.a2a":                    {"TestA2AAuthorizationFromYAML"},
	"backendPolicies.sessionAffinity":        {"TestBackendPoliciesServed"},

	"backends.name":     {"TestMCPNamedBackendSharedByRoutes"},
	"backends.policies": {"TestMCPTargetNamedHostBackend"},
	"backends.host":     {"TestMCPTargetNamedHostBackend"},
	"backends.mcp":      {"TestMCPNamedBackendSharedByRoutes"},
	"backends.ai":       {"TestAIBackend"},

	"mcp.gateways":                          {"TestShortFormsAttachToGateways"},
	"mcp.port":                              {"TestMCPShortFormFromYAML"},
	"mcp.targets":                           {"TestMCPShortFormFromYAML"},
	"mcp.statefulMode":                      {"TestMCPShortFormFromYAML"},
	"mcp.prefixMode":                        {"TestMCPBackendFromYAML"},
	"mcp.failureMode":                       {"TestMCPBackendFromYAML"},
	"mcp.dnsRebindingProtection":            {"TestMCPShortFormFromYAML"},
	"mcp.policies":                          {"TestMCPShortFormFromYAML"},
	"llm.gateways":                          {"TestShortFormsAttachToGateways"},
	"llm.port":                              {"TestLLMShortForm"},
	"llm.providers":                         {"TestLLMShortForm"},
	"llm.models":                            {"TestLLMShortForm", "TestLLMModelMatchesTransformationHealth", "TestLLMActiveHealthFromYAML"},
	"llm.virtualModels":                     {"TestLLMShortForm"},
	"llm.policies":                          {"TestLLMShortForm"},
	"config.modelCatalog":                   {"TestModelCatalogYAML"},
	"config.xdsAddress":                     {"TestXDSControlPlaneAndTwoReplicas", "TestXDSDataPlaneInProcess"},
	"config.xdsAuthToken":                   {"TestXDSControlPlaneAndTwoReplicas"},
	"config.namespace":                      {"TestXDSControlPlaneAndTwoReplicas"},
	"config.gateway":                        {"TestXDSControlPlaneAndTwoReplicas"},
	"frontendPolicies.tls":                  {"TestTLSSettingsFromYAML"},
	"frontendPolicies.tcp":                  {"TestTLSSettingsFromYAML"},
	"frontendPolicies.networkAuthorization": {"TestProxyProtocolAndNetworkAuthorizationFromYAML"},
	"frontendPolicies.proxy":                {"TestProxyProtocolThroughTheBinary"},
	"frontendPolicies.proxyProtocol":        {"TestProxyProtocolAndNetworkAuthorizationFromYAML"},
	"frontendPolicies.connect":              {"TestFrontendConnectModeFromYAML"},
	"listener.tcpRoutes":                    {"TestTCPRouteFromYAML"},
	"tls.mode":                              {"TestConnectEgressWithDynamicCA"},
	"tls.cipherSuites":                      {"TestTLSSettingsFromYAML"},
	"tls.minTLSVersion":                     {"TestTLSSettingsFromYAML"},
	"tls.minTlsVersion":                     {"TestTLSSettingsFromYAML"},
	"tls.maxTLSVersion":                     {"TestTLSSettingsFromYAML"},
	"tls.maxTlsVersion":                     {"TestTLSSettingsFromYAML"},
	"tls.keyExchangeGroups":                 {"TestTLSSettingsFromYAML"},
	"policies.ai":                           {"TestAIRoutePolicy", "TestCloudGuardsFromYAML", "TestAIRoutesFromYAML"},
	"backendPolicies.ai":                    {"TestAIRoutePolicy"},
	"backend.aws":                           {"TestAgentCoreBackendFromYAML"},
	"backends.aws":                          {"TestAgentCoreBackendFromYAML"},
	"llm.tls":                               {"TestLLMShortFormTLS"},
	"backendPolicies.inferenceRouting":      {"TestInferenceRoutingFromYAML"},
	"tcpRoutes":                             {"TestTopLevelTCPRoutesFromYAML"},
	"backendPolicies.backendTunnel":         {"TestBackendTunnelFromYAML"},
	"llm.models.serverTools":                {"TestLLMServerTools"},
}

// notYetServed are supported rows without a test that serves them from a config file yet, with why;
// the list may only shrink.
var notYetServed = map[string]string{
	"policies.remoteRateLimit": "served by package remoteratelimit's tests against a gRPC rate-limit service; no YAML-level test runs one",
	"config.clusterId":         "only sent as the xDS node's cluster; no test reads it back at a control plane",
}

// Every row the table says is served names tests that exist and serve it (see servedBy).
func TestSupportedRowsAreServed(t *testing.T) {
	var src strings.Builder
	for _, dir := range []string{".", "../cmd/agentgateway"} {
		files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
		require.NoError(t, err)
		for _, f := range files {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			src.Write(b)
		}
	}
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`).FindAllStringSubmatch(src.String(), -1) {
		defined[m[1]] = true
	}
	for _, r := range config.Compatibility {
		if r.Support == config.NotSupported {
			assert.NotContains(t, servedBy, r.Key, "%s is not supported", r.Key)
			continue
		}
		if why, ok := notYetServed[r.Key]; ok {
			t.Logf("%s: not served by a config test yet: %s", r.Key, why)
			continue
		}
		tests := servedBy[r.Key]
		if assert.NotEmpty(t, tests, "supported row %s names no test that serves it", r.Key) {
			for _, name := range tests {
				assert.True(t, defined[name], "%s: no test %s", r.Key, name)
			}
		}
	}
}
