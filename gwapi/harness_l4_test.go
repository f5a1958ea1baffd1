package gwapi_test

// L4 pieces of the conformance harness: what the suite's echo-basic containers are configured to be
// (environment and Secret volumes, read as a kubelet would), the TCP echo server of its TLSRoute and
// TCPRoute tests, and the loopback network the Gateways listen on.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/echo-basic/tcpserver"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/yaml"
)

// podConfig reads what a Deployment's first container asks echo-basic to be. Files named by its
// environment come from the Secret volumes mounted there; a missing Secret is an error, so that the
// kubelet retries (a real pod stays ContainerCreating until its Secret exists).
func (cl *cluster) podConfig(ctx context.Context, d *appsv1.Deployment) (podConfig, error) {
	var cfg podConfig
	spec := &d.Spec.Template.Spec
	if len(spec.Containers) == 0 {
		return cfg, nil
	}
	c := &spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	cfg.grpc = env["GRPC_ECHO_SERVER"] != "" && env["GRPC_ECHO_SERVER"] != "0"
	cfg.tcp = !cfg.grpc && env["TCP_ECHO_SERVER"] != ""
	keyVar := "TLS_SERVER_PRIVKEY" // echo-basic's HTTP server; its TCP server reads TLS_SERVER_PRIV_KEY
	if cfg.tcp {
		keyVar = "TLS_SERVER_PRIV_KEY"
	}
	if env["TLS_SERVER_CERT"] == "" || env[keyVar] == "" {
		return cfg, nil
	}
	certPEM, err := cl.podFile(ctx, d.Namespace, spec, c, env["TLS_SERVER_CERT"])
	if err != nil {
		return cfg, err
	}
	keyPEM, err := cl.podFile(ctx, d.Namespace, spec, c, env[keyVar])
	if err != nil {
		return cfg, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return cfg, fmt.Errorf("pod %s/%s: %w", d.Namespace, d.Name, err)
	}
	cfg.cert = &cert
	// echo-basic requires and verifies client certificates against TLS_CLIENT_CACERTS when set.
	if f := env["TLS_CLIENT_CACERTS"]; f != "" {
		ca, err := cl.podFile(ctx, d.Namespace, spec, c, f)
		if err != nil {
			return cfg, err
		}
		cfg.clientCAs = x509.NewCertPool()
		if !cfg.clientCAs.AppendCertsFromPEM(ca) {
			return cfg, fmt.Errorf("pod %s/%s: %s holds no PEM certificate", d.Namespace, d.Name, f)
		}
	}
	return cfg, nil
}

// podFile reads a file a container sees at file from the Secret volume mounted over it.
func (cl *cluster) podFile(ctx context.Context, ns string, spec *corev1.PodSpec, c *corev1.Container, file string) ([]byte, error) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				return cl.configMapFile(ctx, ns, v.ConfigMap, rel)
			}
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			var s corev1.Secret
			if err := cl.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: v.Secret.SecretName}, &s); err != nil {
				return nil, err
			}
			key := rel
			for _, it := range v.Secret.Items {
				if path.Clean(it.Path) == rel {
					key = it.Key
				}
			}
			if b, ok := s.Data[key]; ok {
				return b, nil
			}
			return nil, fmt.Errorf("secret %s/%s has no key %s", ns, s.Name, key)
		}
	}
	return nil, fmt.Errorf("no secret or configmap volume holds %s", file)
}

// configMapFile reads the file rel of a ConfigMap volume.
func (cl *cluster) configMapFile(ctx context.Context, ns string, v *corev1.ConfigMapVolumeSource, rel string) ([]byte, error) {
	var cm corev1.ConfigMap
	if err := cl.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: v.Name}, &cm); err != nil {
		return nil, err
	}
	key := rel
	for _, it := range v.Items {
		if path.Clean(it.Path) == rel {
			key = it.Key
		}
	}
	if d, ok := cm.Data[key]; ok {
		return []byte(d), nil
	}
	if b, ok := cm.BinaryData[key]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("configmap %s/%s has no key %s", ns, cm.Name, key)
}

// serveTCPEcho serves echo-basic's TCP echo protocol on ln until it is closed: a welcome line, then
// PING (PONG), IS_TLS (whether the connection is TLS) and TEST (the pod and, over TLS, the server name
// the client sent, as JSON), one line each.
func serveTCPEcho(ln net.Listener, ns, pod string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer func() { _ = c.Close() }()
			a := tcpserver.TCPAssertions{Context: tcpserver.Context{Namespace: ns, Pod: pod, TCPPort: "3000", TLSPort: "8443"}}
			if tc, ok := c.(*tls.Conn); ok {
				if tc.Handshake() != nil {
					return
				}
				st := tc.ConnectionState()
				a.IsTLS = true
				a.TLSAssertion = &tcpserver.TLSAssertions{Version: tls.VersionName(st.Version), ServerName: st.ServerName,
					NegotiatedProtocol: st.NegotiatedProtocol, CipherSuite: tls.CipherSuiteName(st.CipherSuite)}
			}
			payload, _ := json.Marshal(a)
			if _, err := fmt.Fprint(c, tcpserver.WelcomeMessage); err != nil {
				return
			}
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				var out string
				switch sc.Text() {
				case "PING":
					out = "PONG"
				case "IS_TLS":
					out = strconv.FormatBool(a.IsTLS)
				case "TEST":
					out = string(payload)
				default:
					continue
				}
				if _, err := fmt.Fprintf(c, "%s\n", out); err != nil {
					return
				}
			}
		}()
	}
}

// tlsAssertions is echo-basic's "tls" object of an HTTPS request.
func tlsAssertions(st *tls.ConnectionState) map[string]any {
	if st == nil {
		return nil
	}
	var peers []string
	for _, c := range st.PeerCertificates {
		peers = append(peers, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return map[string]any{"version": tls.VersionName(st.Version), "serverName": st.ServerName, "negotiatedProtocol": st.NegotiatedProtocol,
		"cipherSuite": tls.CipherSuiteName(st.CipherSuite), "peerCertificates": peers}
}

// network gives each Gateway its own loopback address (127.B.C.N, with B.C random per process so that
// concurrent test processes do not collide) and binds its listeners there on the ports the Gateway
// names, so that the suite's own dials to a Gateway's status address (TLSRoute and TCPRoute tests) reach
// it. Where an address or port cannot be bound (a port below 1024 without root or
// CAP_NET_BIND_SERVICE; 127.0.0.0/8 beyond 127.0.0.1 off Linux), the listener gets an ephemeral
// 127.0.0.1 port instead: the suite's RoundTripper, gRPC and WebSocket clients still reach it through
// dial, and tests that dial such an address themselves are skipped (see directDial).
type network struct {
	mu    sync.Mutex
	base  [2]int
	addrs map[types.NamespacedName]string
	socks map[string]string // "address:port" -> where that listener really is
}

func newNetwork() *network {
	return &network{base: [2]int{100 + rand.IntN(150), rand.IntN(250)}, addrs: map[types.NamespacedName]string{},
		socks: map[string]string{}}
}

func (n *network) address(key types.NamespacedName) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.addrs[key]; ok {
		return a
	}
	i := len(n.addrs)
	a := fmt.Sprintf("127.%d.%d.%d", n.base[0], (n.base[1]+i/250)%256, i%250+1)
	n.addrs[key] = a
	return a
}

// spare is a loopback address address never hands out, for a Gateway's static spec.addresses.
func (n *network) spare() string {
	return fmt.Sprintf("127.%d.%d.254", n.base[0], n.base[1])
}

// pinStatic makes a Gateway with a static IP address in spec.addresses that this process can bind
// listen there (the others, reported AddressNotUsable, leave it where it was).
func (n *network) pinStatic(key types.NamespacedName, gw *gwv1.Gateway) {
	for _, a := range gw.Spec.Addresses {
		if a.Value != "" && (a.Type == nil || *a.Type == gwv1.IPAddressType) {
			ln, err := net.Listen("tcp", net.JoinHostPort(a.Value, "0"))
			if err != nil {
				continue
			}
			_ = ln.Close()
			n.mu.Lock()
			n.addrs[key] = a.Value
			n.mu.Unlock()
			return
		}
	}
}

// unbindable reports whether err means this process may not bind that address or port at all (as
// opposed to someone else holding it).
func unbindable(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

func (n *network) listen(key types.NamespacedName) func(int) (net.Listener, error) {
	return func(port int) (net.Listener, error) {
		addr := net.JoinHostPort(n.address(key), strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil && unbindable(err) {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		n.socks[addr] = ln.Addr().String()
		return ln, nil
	}
}

// canBind probes whether this process can bind a Gateway address on port (nil) or why not.
func (n *network) canBind(port int) error {
	probe := fmt.Sprintf("127.%d.%d.254", n.base[0], n.base[1])
	ln, err := net.Listen("tcp", net.JoinHostPort(probe, strconv.Itoa(port)))
	if err != nil {
		if unbindable(err) {
			return err
		}
		return nil // in use: bindable in principle
	}
	return ln.Close()
}

func (n *network) real(addr string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.socks[addr]; ok {
		return r, nil
	}
	return "", fmt.Errorf("dial %s: connection refused (no gateway listens there)", addr)
}

func (n *network) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r, err := n.real(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, r)
}

// directDial lists the tests in which the suite dials Gateway addresses itself rather than through
// its RoundTripper, gRPC or WebSocket clients (the suite's tests that call tcp.* or
// tls.MakeTLSConnection*): they need each Gateway's listeners on its status address and real port.
var directDial = map[string]bool{
	"TCPRouteMultipleRoutesAttachment":      true,
	"TCPRouteParentRefAttachAll":            true,
	"TCPRouteParentRefPortAndSectionName":   true,
	"TCPRouteReferenceGrant":                true,
	"TCPRouteWeightedRouting":               true,
	"TLSRouteHostnameIntersection":          true,
	"TLSRouteInvalidBackendRefNonexistent":  true,
	"TLSRouteInvalidBackendRefUnknownKind":  true,
	"TLSRouteMixedTerminationSameNamespace": true,
	"TLSRouteSimpleSameNamespace":           true,
	"TLSRouteTerminateSimpleSameNamespace":  true,
}

// directDialBlocked returns why a test that dials its Gateways itself cannot run here (nil if it can):
// a port one of its Gateways listens on cannot be bound on the Gateway's address.
func (n *network) directDialBlocked(manifests fs.FS, ct suite.ConformanceTest) error {
	if !directDial[ct.ShortName] {
		return nil
	}
	for _, m := range ct.Manifests {
		b, err := fs.ReadFile(manifests, m)
		if err != nil {
			return err
		}
		for doc := range strings.SplitSeq(string(b), "\n---") {
			var gw gwv1.Gateway
			if yaml.Unmarshal([]byte(doc), &gw) != nil || gw.Kind != "Gateway" {
				continue
			}
			for _, l := range gw.Spec.Listeners {
				if err := n.canBind(int(l.Port)); err != nil {
					return fmt.Errorf("it dials Gateway %s on port %d itself, and this process cannot listen there (%w); "+
						"run as root or with CAP_NET_BIND_SERVICE (Linux)", gw.Name, l.Port, err)
				}
			}
		}
	}
	return nil
}
