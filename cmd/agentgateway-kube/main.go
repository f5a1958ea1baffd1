// Command agentgateway-kube serves a Kubernetes cluster's Gateways: it watches Gateway API objects
// and agentgateway's own resources with controller-runtime, translates them (package gwapi) and runs
// a data plane per Gateway, writing statuses back. It is a separate binary so that the standalone
// agentgateway, configured by file or xDS, does not carry the Kubernetes client libraries (about half
// of their combined size and most of their idle memory).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/gwapi"
	"github.com/agentgw/agentgateway/xds"
)

// kubeFlags are the flags of `agentgateway-kube`.
type kubeFlags struct {
	kubeconfig     string
	controllerName string
	address        string
	bindAddr       string
	logLevel       string
	drain          time.Duration
	// Leader election: one replica writes statuses, every replica serves.
	leaderElect   bool
	leaderElectNS string
	leaderElectID string
	// xdsServe: serve the translation over xDS to remote data planes instead of serving locally.
	xdsServe     string
	xdsAuthToken string
}

func parseKubeFlags(args []string, stderr io.Writer) (kubeFlags, error) {
	var f kubeFlags
	fs := flag.NewFlagSet("agentgateway-kube", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	fs.StringVar(&f.controllerName, "controller-name", "agentgateway.dev/gwapi", "GatewayClass spec.controllerName this gateway serves")
	fs.StringVar(&f.address, "address", os.Getenv("POD_IP"), "address reported in Gateway status (default: $POD_IP)")
	fs.StringVar(&f.bindAddr, "bind-address", "", "address to bind the Gateways' listener ports on (default: all interfaces)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "how long a removed Gateway's in-flight requests may take")
	fs.StringVar(&f.xdsServe, "xds-serve", "", "serve the Gateways' configuration over xDS on this `address` to data planes (agentgateway with config.xdsAddress) instead of serving them in this process")
	fs.StringVar(&f.xdsAuthToken, "xds-auth-token", os.Getenv("XDS_AUTH_TOKEN"), "bearer token data planes must present to --xds-serve (default: $XDS_AUTH_TOKEN)")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "elect one replica (a coordination.k8s.io Lease) to write statuses; every replica serves traffic")
	fs.StringVar(&f.leaderElectNS, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's namespace; required out of cluster)")
	fs.StringVar(&f.leaderElectID, "leader-election-id", gwapi.DefaultLeaderElectionID, "name of the leader-election Lease")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.address != "" && net.ParseIP(f.address) == nil {
		return f, fmt.Errorf("--address %q is not an IP address", f.address)
	}
	if !f.leaderElect && (f.leaderElectNS != "" || f.leaderElectID != gwapi.DefaultLeaderElectionID) {
		return f, errors.New("--leader-election-namespace and --leader-election-id need --leader-elect")
	}
	if f.xdsServe != "" {
		if _, _, err := net.SplitHostPort(f.xdsServe); err != nil {
			return f, fmt.Errorf("--xds-serve %q: %w", f.xdsServe, err)
		}
	}
	if f.leaderElect && f.leaderElectID == "" {
		return f, errors.New("--leader-election-id is empty")
	}
	return f, nil
}

// kubeOptions are the options RunKube gets from the flags.
func kubeOptions(f kubeFlags, rc *rest.Config, logger *slog.Logger) gwapi.KubeOptions {
	opts := gwapi.Options{ControllerName: gwv1.GatewayController(f.controllerName), Logger: logger,
		// A Gateway's requested IPs reach the data planes through the cluster (a load balancer, a
		// Service, replicas fed over --xds-serve), never by this pod binding them, so the controller
		// cannot test them and reports them as requested; malformed or non-IP addresses are still refused.
		AddressUsable: func(*gwv1.Gateway, string) error { return nil }}
	if f.address != "" {
		typ := gwv1.IPAddressType
		opts.Addresses = func(*gwv1.Gateway) []gwv1.GatewayStatusAddress {
			return []gwv1.GatewayStatusAddress{{Type: &typ, Value: f.address}}
		}
	}
	ko := gwapi.KubeOptions{RestConfig: rc, Options: opts, Logger: logger,
		GatewayOptions: func(gw types.NamespacedName) []agentgateway.Option {
			o := []agentgateway.Option{agentgateway.WithLogger(logger.With("gateway", gw.String())), agentgateway.WithDrainTimeout(f.drain)}
			if f.bindAddr != "" {
				o = append(o, agentgateway.WithBindAddress(f.bindAddr))
			}
			return o
		}}
	if f.leaderElect {
		ko.LeaderElection = &gwapi.LeaderElection{Namespace: f.leaderElectNS, ID: f.leaderElectID}
	}
	return ko
}

// controlPlane starts the xDS server of --xds-serve on ln and sets ko to publish to it with no
// local data plane. It returns when ctx ends and the server stopped.
func controlPlane(ctx context.Context, ln net.Listener, token string, ko *gwapi.KubeOptions, logger *slog.Logger) <-chan error {
	srv := xds.NewServer(xds.ServerOptions{Logger: logger, AuthToken: token})
	ko.Publish, ko.NoDataPlane = gwapi.PublishXDS(srv), true
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	logger.Info("serving xDS", "address", ln.Addr().String())
	return done
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrlconfig.GetConfig()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runKube(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// runKube is `agentgateway-kube`: serve the cluster's Gateways of this controller's GatewayClasses,
// configured from Gateway API objects and agentgateway's own resources (gwapi.RunKube).
func runKube(ctx context.Context, args []string, stderr io.Writer) int {
	f, err := parseKubeFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "agentgateway-kube:", err)
		}
		return 2
	}
	level, err := config.ParseLogLevel(f.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "agentgateway-kube: --log-level:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rc, err := restConfig(f.kubeconfig)
	if err != nil {
		logger.Error("kubernetes config", "error", err)
		return 1
	}
	ko := kubeOptions(f, rc, logger)
	var xdsDone <-chan error
	if f.xdsServe != "" {
		ln, err := net.Listen("tcp", f.xdsServe)
		if err != nil {
			logger.Error("--xds-serve", "error", err)
			return 1
		}
		xctx, cancel := context.WithCancel(ctx)
		defer cancel()
		xdsDone = controlPlane(xctx, ln, f.xdsAuthToken, &ko, logger)
		defer func() { cancel(); <-xdsDone }()
	}
	if err := gwapi.RunKube(ctx, ko); err != nil {
		logger.Error("kube", "error", err)
		return 1
	}
	return 0
}
