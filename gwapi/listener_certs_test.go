package gwapi_test

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// servedName is the name of the certificate a listener's server TLS serves a client asking for sni.
func servedName(t *testing.T, server *tls.Config, sni string) string {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	go func() { _ = tls.Server(s, server).Handshake(); s.Close() }()
	cl := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: sni}) // the name is what is checked
	require.NoError(t, cl.Handshake())
	return cl.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// A listener with several certificateRefs serves each to the clients whose SNI it names, and the
// first to the others, in the runtime translation and through the schema document alike.
func TestListenerServesEveryCertificateRefBySNI(t *testing.T) {
	secret := func(name, host string) string {
		c, k := selfSigned(t, host)
		return `---
apiVersion: v1
kind: Secret
metadata: {name: ` + name + `, namespace: infra}
type: kubernetes.io/tls
data: {tls.crt: ` + base64.StdEncoding.EncodeToString(c) + `, tls.key: ` + base64.StdEncoding.EncodeToString(k) + `}
`
	}
	snap, err := gwapi.DecodeManifests(strings.NewReader(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
` + secret("a", "a.example.com") + secret("b", "b.example.com") + `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: agw
  listeners: [{name: https, protocol: HTTPS, port: 8443, tls: {certificateRefs: [{name: a}, {name: b}]}}]
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	key := types.NamespacedName{Namespace: "infra", Name: "gw"}
	rt, doc, err := compileDocument(res, nil)
	require.NoError(t, err, string(doc))
	defer rt.Close()
	for mode, ls := range map[string][]agentgateway.ListenerConfig{"runtime": res.Configs[key].Listeners, "document": rt.Config.Listeners} {
		require.Len(t, ls, 1, mode)
		require.Equal(t, "b.example.com", servedName(t, ls[0].TLS, "b.example.com"), "%s: the second certificateRef for its name", mode)
		require.Equal(t, "a.example.com", servedName(t, ls[0].TLS, "a.example.com"), mode)
		require.Equal(t, "a.example.com", servedName(t, ls[0].TLS, "other.example.com"), "%s: the first for other names", mode)
	}
}
