package gwapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	agentgateway "github.com/agentgw/agentgateway"
	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// Scheme returns a scheme with every kind the controller reads: core Services, Secrets, ConfigMaps, Namespaces
// and Pods, EndpointSlices, Gateway API v1 (and v1beta1 for ReferenceGrants written at that
// version), agentgateway.dev/v1alpha1 and inference.networking.k8s.io/v1.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, discoveryv1.AddToScheme, gwv1.Install, gwv1b1.Install,
		agwv1a1.AddToScheme, infv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("gwapi: scheme: %w", err)
		}
	}
	return s, nil
}

// KubeOptions configure [RunKube].
type KubeOptions struct {
	// RestConfig reaches the cluster (e.g. from sigs.k8s.io/controller-runtime/pkg/client/config.GetConfig:
	// --kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config).
	RestConfig *rest.Config
	// Options parameterise translation; ControllerName selects the GatewayClasses served.
	Options Options
	// GatewayOptions are the options of each Kubernetes Gateway's data plane (listen address, logger...).
	GatewayOptions func(gateway types.NamespacedName) []agentgateway.Option
	// Interval between reads of the manager's cache (default 200ms). Reads are from memory; a change
	// is programmed within one interval.
	Interval time.Duration
	Logger   *slog.Logger
	// Publish, when set, receives every new translation (see [Controller].Publish), e.g.
	// PublishXDS to serve it to remote data planes.
	Publish func(*Result) error
	// NoDataPlane runs no data plane in this process: it is a control plane only (statuses and
	// Publish), the Gateways being served by remote data planes.
	NoDataPlane bool
	// LeaderElection, when set, elects one replica (through a coordination.k8s.io Lease) to write
	// statuses; every replica serves traffic.
	LeaderElection *LeaderElection
}

// LeaderElection configures the Lease that elects the status-writing replica.
type LeaderElection struct {
	// Namespace of the Lease; empty means the namespace the pod runs in (required out of cluster).
	Namespace string
	// ID names the Lease (default "agentgateway-kube-leader").
	ID string
}

// DefaultLeaderElectionID names the Lease when [LeaderElection].ID is empty.
const DefaultLeaderElectionID = "agentgateway-kube-leader"

// managerOptions are the controller-runtime manager's options for ko.
func managerOptions(ko KubeOptions, scheme *runtime.Scheme, logger *slog.Logger) manager.Options {
	o := manager.Options{Scheme: scheme, Logger: logr.FromSlogHandler(logger.Handler()),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"}
	if le := ko.LeaderElection; le != nil {
		o.LeaderElection = true
		o.LeaderElectionResourceLock = resourcelock.LeasesResourceLock
		o.LeaderElectionNamespace = le.Namespace
		o.LeaderElectionID = cmp.Or(le.ID, DefaultLeaderElectionID)
		// A replica that stops (rollout, scale-down) hands the Lease over at once instead of
		// leaving statuses unwritten for a lease duration.
		o.LeaderElectionReleaseOnCancel = true
	}
	return o
}

// servingRunnable runs on every replica, leader or not: the data plane must serve everywhere.
type servingRunnable struct{ manager.RunnableFunc }

func (servingRunnable) NeedLeaderElection() bool { return false }

// elected reports whether ch (the manager's Elected channel) is closed.
func elected(ch <-chan struct{}) func() bool {
	return func() bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
}

// ErrKube marks failures to run against a cluster.
var ErrKube = errors.New("gwapi: kubernetes")

// RunKube watches a cluster with a controller-runtime manager and serves every Gateway of this
// controller's GatewayClasses in this process until ctx ends: the manager's informer cache feeds a
// [Controller] (statuses are written back through the manager's client) and a [Runtime] runs one
// data plane per Gateway. Kinds whose CRDs are not installed (TLSRoute, TCPRoute, agentgateway's
// own, InferencePool) are skipped.
func RunKube(ctx context.Context, ko KubeOptions) error {
	if ko.RestConfig == nil {
		return fmt.Errorf("%w: no rest config", ErrKube)
	}
	if ko.Options.ControllerName == "" {
		return fmt.Errorf("%w: no controller name", ErrKube)
	}
	logger := ko.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if ko.Options.Logger == nil {
		ko.Options.Logger = logger
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	mgr, err := manager.New(ko.RestConfig, managerOptions(ko, scheme, logger))
	if err != nil {
		return fmt.Errorf("%w: manager: %w", ErrKube, err)
	}
	if ko.Interval <= 0 {
		ko.Interval = 200 * time.Millisecond
	}
	rt := &Runtime{Options: ko.GatewayOptions}
	var plane DataPlane = rt
	release := &ReleasePlane{} // the data plane of a control plane only (release.go)
	if ko.NoDataPlane {
		plane = release
	}
	// Without leader election the manager closes Elected at start, so the gate is always open.
	ctl := &Controller{Cluster: mgr.GetClient(), DataPlane: plane, Options: ko.Options, Interval: ko.Interval, Logger: logger,
		Leader: elected(mgr.Elected()), Publish: ko.Publish}
	if err := mgr.Add(servingRunnable{func(ctx context.Context) error {
		// The cache is synced before runnables start, so the first translation sees the cluster.
		err := ctl.Run(ctx)
		return errors.Join(err, rt.Close(), release.Close())
	}}); err != nil {
		return fmt.Errorf("%w: %w", ErrKube, err)
	}
	logger.Info("watching Kubernetes", "host", ko.RestConfig.Host, "controllerName", ko.Options.ControllerName,
		"leaderElection", ko.LeaderElection != nil)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrKube, err)
	}
	return nil
}
