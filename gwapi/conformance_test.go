package gwapi_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	xws "golang.org/x/net/websocket"
	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/conformance"
	conftests "sigs.k8s.io/gateway-api/conformance/tests"
	"sigs.k8s.io/gateway-api/conformance/utils/config"
	"sigs.k8s.io/gateway-api/conformance/utils/roundtripper"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/gateway-api/pkg/features"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

const (
	controllerName = gwv1.GatewayController("agentgateway.dev/gwapi")
	className      = "agentgateway"
)

// expectedPass lists the conformance tests of the default families that pass; the test fails if one
// of them stops passing. Tests absent from this list and from knownFailing must not exist.
var expectedPass = []string{
	"BackendTLSPolicy",
	"BackendTLSPolicyConflictResolution",
	"BackendTLSPolicyInvalidCACertificateRef",
	"BackendTLSPolicyInvalidKind",
	"BackendTLSPolicyObservedGenerationBump",
	"BackendTLSPolicySANValidation",
	"HTTPRoute303Redirect",
	"HTTPRoute307Redirect",
	"HTTPRoute308Redirect",
	"HTTPRouteBackendProtocolH2C",
	"HTTPRouteBackendProtocolWebSocket",
	"HTTPRouteBackendRequestHeaderModifier",
	"HTTPRouteCORS",
	"HTTPRouteCrossNamespace",
	"HTTPRouteDisallowedKind",
	"HTTPRouteExactPathMatching",
	"HTTPRouteHTTPSListener",
	"HTTPRouteHTTPSListenerDetectMisdirectedRequests",
	"HTTPRouteHeaderMatching",
	"HTTPRouteHostnameIntersection",
	"HTTPRouteInvalidBackendRefUnknownKind",
	"HTTPRouteInvalidCrossNamespaceBackendRef",
	"HTTPRouteInvalidCrossNamespaceParentRef",
	"HTTPRouteInvalidNonExistentBackendRef",
	"HTTPRouteInvalidParentRefNotMatchingListenerPort",
	"HTTPRouteInvalidParentRefNotMatchingSectionName",
	"HTTPRouteInvalidParentRefSectionNameNotMatchingPort",
	"HTTPRouteInvalidReferenceGrant",
	"HTTPRouteListenerHostnameMatching",
	"HTTPRouteListenerPortMatching",
	"HTTPRouteMatching",
	"HTTPRouteMatchingAcrossRoutes",
	"HTTPRouteMethodMatching",
	"HTTPRouteMultipleGateways",
	"HTTPRouteNamedRule",
	"HTTPRouteNoBackendRefs",
	"HTTPRouteObservedGenerationBump",
	"HTTPRoutePartiallyInvalidViaInvalidReferenceGrant",
	"HTTPRoutePathMatchOrder",
	"HTTPRouteQueryParamMatching",
	"HTTPRouteRedirectHostAndStatus",
	"HTTPRouteRedirectPath",
	"HTTPRouteRedirectPort",
	"HTTPRouteRedirectPortAndScheme",
	"HTTPRouteRedirectScheme",
	"HTTPRouteReferenceGrant",
	"HTTPRouteRequestHeaderModifier",
	"HTTPRouteRequestHeaderModifierBackendWeights",
	"HTTPRouteRequestMirror",
	"HTTPRouteRequestMultipleMirrors",
	"HTTPRouteRequestPercentageMirror",
	"HTTPRouteResponseHeaderModifier",
	"HTTPRouteRetry",
	"HTTPRouteRewriteHost",
	"HTTPRouteRewritePath",
	"HTTPRouteServiceTypes",
	"HTTPRouteSimpleSameNamespace",
	"HTTPRouteTimeoutBackendRequest",
	"HTTPRouteTimeoutRequest",
	"HTTPRouteWeight",
	"GRPCExactMethodMatching",
	"GRPCRouteHeaderMatching",
	"GRPCRouteListenerHostnameMatching",
	"GRPCRouteNamedRule",
	"GRPCRouteWeight",
	"GatewayClassObservedGenerationBump",
	"GatewayFrontendClientCertificateValidation",
	"GatewayFrontendClientCertificateValidationInsecureFallback",
	"GatewayFrontendInvalidDefaultClientCertificateValidation",
	"GatewayHTTPListenerIsolation",
	"GatewayInvalidFrontendClientCertificateValidation",
	"GatewayInvalidParametersRef",
	"GatewayInvalidRouteKind",
	"GatewayInvalidTLSBackendConfiguration",
	"GatewayInvalidTLSConfiguration",
	"GatewayListenerUnsupportedProtocol",
	"GatewayModifyListeners",
	"GatewayObservedGenerationBump",
	"GatewayOptionalAddressValue",
	"GatewaySecretInvalidReferenceGrant",
	"GatewaySecretMissingReferenceGrant",
	"GatewaySecretReferenceGrantAllInNamespace",
	"GatewaySecretReferenceGrantSpecific",
	"GatewayStaticAddresses",
	"GatewayTLSBackendClientCertificate",
	"GatewayWithAttachedRoutes",
	"GatewayWithAttachedRoutesWithPort8080",
	"TCPRouteInvalidBackendRefNonexistent",
	"TCPRouteInvalidCrossNamespaceBackendRef",
	"TCPRouteInvalidNonTCPListener",
	"TCPRouteMultipleRoutesAttachment",
	"TCPRouteParentRefAttachAll",
	"TCPRouteParentRefPortAndSectionName",
	"TCPRouteReferenceGrant",
	"TCPRouteWeightedRouting",
	"TLSRouteHostnameIntersection",
	"TLSRouteInvalidBackendRefNonexistent",
	"TLSRouteInvalidBackendRefUnknownKind",
	"TLSRouteInvalidNoMatchingListener",
	"TLSRouteInvalidNoMatchingListenerHostname",
	"TLSRouteInvalidReferenceGrant",
	"TLSRouteListenerMixedTerminationNotSupported",
	"TLSRouteListenerPassthroughSupportedKinds",
	"TLSRouteListenerTerminateNotSupported",
	"TLSRouteListenerTerminateSupportedKinds",
	"TLSRouteMixedTerminationSameNamespace",
	"TLSRouteSimpleSameNamespace",
	"TLSRouteTerminateSimpleSameNamespace",
}

// defaultFamilies are the test families make test runs (name prefixes of the suite's tests).
const defaultFamilies = "HTTPRoute,GRPC,TLS,TCP,Gateway,BackendTLSPolicy"

// knownFailing are run (or skipped, for a feature not claimed) and reported but not required, each
// with the reason.
var knownFailing = map[string]string{
	"GatewayInfrastructureMetadata": notApplicable["GatewayInfrastructureMetadata"],
}

// notApplicable are tests of a claimed feature skipped because they check something an embedded
// data plane does not have, with the reason.
var notApplicable = map[string]string{
	// GatewayInfrastructure is claimed for spec.infrastructure.parametersRef (InvalidParameters).
	"GatewayInfrastructureMetadata": "skipped (not applicable): it checks that infrastructure.labels/annotations reach the ServiceAccount, Pod or Service generated for the Gateway; the data plane is embedded in the controller's process (or replicas the user deploys), so nothing is generated per Gateway",
}

// h2RoundTripper points the suite's HTTP/2 transports, which ignore CustomDialContext, at the real
// socket, keeping the original authority as Host.
type h2RoundTripper struct {
	*roundtripper.DefaultRoundTripper
	net *network
}

func (h *h2RoundTripper) CaptureRoundTrip(r roundtripper.Request) (*roundtripper.CapturedRequest, *roundtripper.CapturedResponse, error) {
	if r.Protocol == roundtripper.H2CPriorKnowledgeProtocol || r.Protocol == roundtripper.H2Protocol {
		host := r.URL.Host
		if _, _, err := net.SplitHostPort(host); err != nil {
			port := "80"
			if r.URL.Scheme == "https" {
				port = "443"
			}
			host = net.JoinHostPort(host, port)
		}
		real, err := h.net.real(host)
		if err != nil {
			return nil, nil, err
		}
		if r.Host == "" {
			r.Host = r.URL.Host
		}
		r.URL.Host = real
	}
	return h.DefaultRoundTripper.CaptureRoundTrip(r)
}

type wsDialer struct{ net *network }

func (d wsDialer) Dial(rawURL, protocol, origin string) (*xws.Conn, error) {
	cfg, err := xws.NewConfig(rawURL, origin)
	if err != nil {
		return nil, err
	}
	if protocol != "" {
		cfg.Protocol = []string{protocol}
	}
	host := cfg.Location.Host
	if cfg.Location.Port() == "" {
		host = net.JoinHostPort(host, "80")
	}
	c, err := d.net.dial(context.Background(), "tcp", host)
	if err != nil {
		return nil, err
	}
	return xws.NewClient(cfg, c)
}

// logTransport serves pod logs (GET .../pods/{name}/log) from the echo pods to a real Clientset.
type logTransport struct{ cl *clusterRef }

type clusterRef struct{ c *cluster }

func (t logTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// api/v1/namespaces/{ns}/pods/{name}/log
	if len(parts) != 7 || parts[6] != "log" {
		return &http.Response{StatusCode: 404, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}, Request: r}, nil
	}
	since := time.Time{}
	if s := r.URL.Query().Get("sinceTime"); s != "" {
		since, _ = time.Parse(time.RFC3339, s)
	}
	body := ""
	if p := t.cl.c.pod(parts[3], parts[5]); p != nil {
		body = p.logsSince(since)
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)),
		Header: http.Header{"Content-Type": {"text/plain"}}, Request: r}, nil
}

func TestGatewayAPIConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite skipped in -short mode")
	}
	ctrllog.SetLogger(logr.Discard())
	start := time.Now()
	scheme := newScheme()
	api := newAPIServer(scheme)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cl := newCluster(api)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); cl.run(ctx) }()

	nw := newNetwork()
	rt := &gwapi.Runtime{Options: func(key types.NamespacedName) []agentgateway.Option {
		var gw gwv1.Gateway
		if api.Get(context.Background(), key, &gw) == nil {
			nw.pinStatic(key, &gw) // a Gateway's static address is where it listens
		}
		nw.address(key)
		return []agentgateway.Option{agentgateway.WithListenFunc(nw.listen(key)),
			agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithDrainTimeout(time.Second)}
	}}
	ctl := &gwapi.Controller{Cluster: api, DataPlane: rt, Interval: 50 * time.Millisecond, Options: gwapi.Options{
		ControllerName: controllerName,
		DialContext:    cl.dialPod,
		Addresses: func(gw *gwv1.Gateway) []gwv1.GatewayStatusAddress {
			return []gwv1.GatewayStatusAddress{{Type: ptrTo(gwv1.IPAddressType), Value: nw.address(types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name})}}
		},
	}}
	mode := "runtime"
	if viaDocument() { // conformance_doc_test.go
		mode = "document"
		dp := &documentPlane{rt: rt, dial: cl.dialPod}
		defer dp.close()
		ctl.DataPlane, ctl.Publish = &dp.release, dp.publish
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = ctl.Run(ctx) }()
	defer func() {
		cancel()
		wg.Wait()
		_ = rt.Close()
	}()

	gc := &gwv1.GatewayClass{Spec: gwv1.GatewayClassSpec{ControllerName: controllerName}}
	gc.Name = className
	if err := api.Create(ctx, gc); err != nil {
		t.Fatal(err)
	}

	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "http://fake-apiserver.invalid", Transport: logTransport{&clusterRef{cl}}})
	if err != nil {
		t.Fatal(err)
	}
	timeouts := config.DefaultTimeoutConfig()
	timeouts.MaxTimeToConsistency = 10 * time.Second
	timeouts.HTTPRouteMustHaveCondition = 10 * time.Second
	timeouts.RouteMustHaveParents = 10 * time.Second
	timeouts.GatewayMustHaveAddress = 10 * time.Second
	timeouts.GatewayMustHaveCondition = 10 * time.Second
	timeouts.GatewayStatusMustHaveListeners = 10 * time.Second
	timeouts.GatewayListenersMustHaveConditions = 10 * time.Second
	timeouts.NamespacesMustBeReady = 30 * time.Second
	timeouts.HTTPRouteMustNotHaveParents = 10 * time.Second
	timeouts.LatestObservedGenerationSet = 10 * time.Second
	timeouts.DefaultTestTimeout = 20 * time.Second
	timeouts.TestIsolation = 0

	supported := features.SetsToNamesSet(features.GatewayCoreFeatures, features.HTTPRouteCoreFeatures,
		features.HTTPRouteExtendedFeatures, features.ReferenceGrantCoreFeatures, features.GRPCRouteCoreFeatures, features.GRPCRouteExtendedFeatures,
		features.TLSRouteCoreFeatures, features.TLSRouteExtendedFeatures, features.TCPRouteExtendedFeatures).Insert(features.SupportGatewayPort8080, features.SupportGatewayHTTPSListenerDetectMisdirectedRequests,
		features.SupportGatewayAddressEmpty, features.SupportGatewayHTTPListenerIsolation,
		features.SupportGatewayFrontendClientCertificateValidation, features.SupportGatewayFrontendClientCertificateValidationInsecureFallback,
		features.SupportGatewayBackendClientCertificate, features.SupportBackendTLSPolicy, features.SupportBackendTLSPolicySANValidation,
		features.SupportGatewayInfrastructure, features.SupportGatewayStaticAddresses)
	grpcc := &grpcClient{net: nw, conns: map[[2]string]*grpc.ClientConn{}}
	defer grpcc.Close()
	dtr := &roundtripper.DefaultRoundTripper{TimeoutConfig: timeouts, CustomDialContext: nw.dial}
	s, err := suite.NewConformanceTestSuite(suite.ConformanceOptions{
		ConfigurableOptions: suite.ConfigurableOptions{
			GatewayClassName: className, SupportedFeatures: supported.UnsortedList(), CleanupBaseResources: false,
			TimeoutConfig: timeouts, AllowCRDsMismatch: true, CleanupTestResources: true,
			// A loopback address no Gateway is given (network.address) binds; TEST-NET-1 does not.
			UsableNetworkAddresses:   []gwv1.GatewaySpecAddress{{Type: ptrTo(gwv1.IPAddressType), Value: nw.spare()}},
			UnusableNetworkAddresses: []gwv1.GatewaySpecAddress{{Type: ptrTo(gwv1.IPAddressType), Value: "192.0.2.1"}},
		},
		Client: api, Clientset: cs, GRPCClient: grpcc, RoundTripper: &h2RoundTripper{dtr, nw}, WebSocketDialer: wsDialer{nw},
		ManifestFS: []fs.FS{&conformance.Manifests},
	})
	if err != nil {
		t.Fatal(err)
	}
	// AGW_GWAPI_SUITE=Gateway (say) measures other families of the suite instead (comma-separated
	// name prefixes), without the expected-pass check.
	familyList := cmp.Or(os.Getenv("AGW_GWAPI_SUITE"), defaultFamilies)
	families := strings.Split(familyList, ",")
	familyOf := func(name string) string {
		for _, f := range families {
			if strings.HasPrefix(name, f) {
				return f
			}
		}
		return ""
	}
	var selected []suite.ConformanceTest
	for _, ct := range conftests.ConformanceTests {
		if familyOf(ct.ShortName) != "" {
			selected = append(selected, ct)
		}
	}
	sort.Slice(selected, func(i, j int) bool { return selected[i].ShortName < selected[j].ShortName })
	setupStart := time.Now()
	s.Setup(t, selected)
	setupTime := time.Since(setupStart)

	only := os.Getenv("AGW_GWAPI_RUN") // a comma-separated subset, for debugging
	var (
		mu                      sync.Mutex
		passed, failed, skipped []string
		// unreachable are the tests skipped because they dial Gateways on ports this process cannot
		// bind, with the reason.
		unreachable = map[string]string{}
	)
	// The group returns only once every test has finished, the parallel ones (which run after their
	// parent's function returns) included; the cluster and gateways stay up until then.
	t.Run("suite", func(t *testing.T) {
		for _, ct := range selected {
			if only != "" && !slices.Contains(strings.Split(only, ","), ct.ShortName) {
				continue
			}
			t.Run(ct.ShortName, func(t *testing.T) {
				t.Cleanup(func() { // after the test and its subtests
					mu.Lock()
					defer mu.Unlock()
					switch {
					case t.Skipped():
						skipped = append(skipped, ct.ShortName)
					case t.Failed():
						failed = append(failed, ct.ShortName)
					default:
						passed = append(passed, ct.ShortName)
					}
				})
				if why, ok := notApplicable[ct.ShortName]; ok {
					t.Skip(why)
				}
				for _, f := range ct.Features {
					if !s.SupportedFeatures.Has(f) {
						t.Skipf("feature %s not supported", f)
					}
				}
				if err := nw.directDialBlocked(&conformance.Manifests, ct); err != nil {
					mu.Lock()
					unreachable[ct.ShortName] = err.Error()
					mu.Unlock()
					t.Skipf("not run: %v", err)
				}
				ct.Run(t, s)
			})
		}
	})
	slices.Sort(failed)
	slices.Sort(skipped)
	var summary strings.Builder
	for _, f := range families {
		total, p, fl, sk := 0, 0, 0, 0
		for _, ct := range selected {
			if familyOf(ct.ShortName) != f {
				continue
			}
			total++
			switch {
			case slices.Contains(passed, ct.ShortName):
				p++
			case slices.Contains(failed, ct.ShortName):
				fl++
			case slices.Contains(skipped, ct.ShortName):
				sk++
			}
		}
		fmt.Fprintf(&summary, "gateway-api conformance (%s): %s %d/%d passed (%d failed, %d skipped)\n", mode, f, p, total, fl, sk)
	}
	for _, name := range slices.Sorted(maps.Keys(unreachable)) {
		fmt.Fprintf(&summary, "gateway-api conformance: %s skipped: %s\n", name, unreachable[name])
	}
	fmt.Fprintf(&summary, "gateway-api conformance: suite %s, setup %s, last translation %s\n",
		time.Since(start).Round(time.Second), setupTime.Round(time.Millisecond), ctl.TranslateTime())
	fmt.Print(summary.String())
	if path := os.Getenv("AGW_GWAPI_REPORT"); path != "" && only == "" && familyList == defaultFamilies {
		// make test prints this file: go test shows a passing package's output only with -v.
		if err := os.WriteFile(path, []byte(summary.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Logf("gateway-api conformance: %s; failed: %v; skipped: %v", familyList, failed, skipped)
	if only != "" || familyList != defaultFamilies {
		return
	}
	for name, why := range knownFailing {
		t.Logf("%s: %s", name, why)
	}
	want := sets.New(expectedPass...)
	for _, ct := range selected {
		if _, known := knownFailing[ct.ShortName]; !known && !want.Has(ct.ShortName) {
			t.Errorf("%s is new in the suite: list it in expectedPass or knownFailing", ct.ShortName)
		}
	}
	for _, name := range failed {
		if want.Has(name) {
			t.Errorf("%s passed before and fails now", name)
		}
	}
	for _, name := range skipped {
		if _, ok := unreachable[name]; want.Has(name) && !ok {
			t.Errorf("%s passed before and is skipped now", name)
		}
	}
	for _, name := range passed {
		if !want.Has(name) {
			t.Logf("%s passes but is not in expectedPass: add it", name)
		}
	}
}
