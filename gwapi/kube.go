package gwapi

import (
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
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	agentgateway "github.com/agentgw/agentgateway"
	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// Scheme returns a scheme with every kind the controller reads: core Services, Secrets, Namespaces
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
	mgr, err := manager.New(ko.RestConfig, manager.Options{Scheme: scheme, Logger: logr.FromSlogHandler(logger.Handler()),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		return fmt.Errorf("%w: manager: %w", ErrKube, err)
	}
	if ko.Interval <= 0 {
		ko.Interval = 200 * time.Millisecond
	}
	rt := &Runtime{Options: ko.GatewayOptions}
	ctl := &Controller{Cluster: mgr.GetClient(), DataPlane: rt, Options: ko.Options, Interval: ko.Interval, Logger: logger}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		// The cache is synced before runnables start, so the first translation sees the cluster.
		err := ctl.Run(ctx)
		return errors.Join(err, rt.Close())
	})); err != nil {
		return fmt.Errorf("%w: %w", ErrKube, err)
	}
	logger.Info("watching Kubernetes", "host", ko.RestConfig.Host, "controllerName", ko.Options.ControllerName)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrKube, err)
	}
	return nil
}
