package gwapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// An InferencePool's endpointPickerRef.failureMode is carried by the schema document: with the
// picker unreachable, FailOpen serves from a ready Pod and FailClose answers 503, through the
// document as in the runtime translation.
func TestSchemaDocumentInferencePoolFailureMode(t *testing.T) {
	servers := map[string]string{} // pod address -> stub address
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("vllm-%d", i-1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) }))
		t.Cleanup(srv.Close)
		servers[fmt.Sprintf("10.0.0.%d:8000", i)] = srv.Listener.Addr().String()
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		real := servers[addr] // the picker, 10.9.9.9:9002, is down
		if real == "" {
			return nil, fmt.Errorf("dial %s: connection refused", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, real)
	}
	for mode, wantCode := range map[string]int{"FailOpen": http.StatusOK, "FailClose": http.StatusServiceUnavailable} {
		snap, err := gwapi.DecodeManifests(strings.NewReader(fmt.Sprintf(poolManifests, mode)))
		require.NoError(t, err)
		res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", DialContext: dial, Logger: slog.New(slog.DiscardHandler)})
		releaseTranslation(t, res)
		direct := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
		t.Cleanup(func() { _ = direct.Close() })
		require.NoError(t, direct.Apply(res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}]))
		rt, doc, err := compileDocument(res, dial)
		require.NoError(t, err, "%s", doc)
		t.Cleanup(func() { _ = rt.Close() })
		viaDoc := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
		t.Cleanup(func() { _ = viaDoc.Close() })
		require.NoError(t, viaDoc.Apply(rt.Config))
		for name, h := range paths(direct.PortHandler(8080), viaDoc.PortHandler(8080)) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://gw/v1/completions", strings.NewReader(`{"model":"m"}`)))
			require.Equal(t, wantCode, rec.Code, "%s %s: %s", name, mode, rec.Body.String())
			if wantCode == http.StatusOK {
				require.Contains(t, []string{"vllm-0", "vllm-1", "vllm-2"}, rec.Body.String(), "%s: a ready Pod serves", name)
			}
		}
	}
}
