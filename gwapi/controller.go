package gwapi

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// Cluster is what the controller needs from Kubernetes: reading objects and writing their status.
// A controller-runtime client (real cluster) and its fake (tests) both satisfy it.
type Cluster interface {
	client.Reader
	Status() client.SubResourceWriter
}

// DataPlane receives the configuration of each Gateway; a nil config means the Gateway is gone.
type DataPlane interface {
	Apply(gateway types.NamespacedName, cfg *agentgateway.Config) error
}

// Controller keeps data planes and statuses in step with the cluster by polling it. Polling (rather
// than a controller-runtime manager) lets it run on any [Cluster], the fake client included.
type Controller struct {
	Cluster   Cluster
	DataPlane DataPlane
	Options   Options
	// Interval between polls (default 100ms).
	Interval time.Duration
	Logger   *slog.Logger
	// Publish, when set, receives each new translation after the data planes got it, e.g. to serve
	// its [SchemaDocument] to remote data planes over xDS. An error is retried on the next poll.
	Publish func(*Result) error
	// Leader, when set, reports whether this replica may write statuses. Every replica programs its
	// data planes; only the elected one writes, so replicas do not fight over status (each would
	// report its own address, bumping resourceVersions forever). Nil means always.
	Leader func() bool

	tr        *transports
	lastHash  uint64
	applied   map[types.NamespacedName]bool
	mu        sync.Mutex // guards what other goroutines read: last, translate
	last      *Result
	translate time.Duration
}

// TranslateTime reports how long the last translation took.
func (c *Controller) TranslateTime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.translate
}

// Run polls until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	iv := c.Interval
	if iv <= 0 {
		iv = 100 * time.Millisecond
	}
	tk := time.NewTicker(iv)
	defer tk.Stop()
	defer c.tr.close()
	for {
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			// A status write that lost a race with another writer is retried on the next poll.
			if apierrors.IsConflict(err) {
				c.logger().Debug("gwapi sync", "error", err)
			} else {
				c.logger().Warn("gwapi sync", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		}
	}
}

func (c *Controller) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Sync reads the cluster once, reprograms the data planes if the inputs changed, and writes statuses.
func (c *Controller) Sync(ctx context.Context) error {
	if c.tr == nil {
		c.tr = newTransports(c.Options.DialContext)
	}
	snap, err := ReadSnapshot(ctx, c.Cluster)
	if err != nil {
		return err
	}
	h := fingerprint(snap)
	if h == c.lastHash && c.last != nil {
		return c.maybeWriteStatus(ctx, snap, c.last)
	}
	start := time.Now()
	res := translate(snap, c.Options, c.tr)
	took := time.Since(start)
	var errs []error
	seen := map[types.NamespacedName]bool{}
	for k, cfg := range res.Configs {
		seen[k] = true
		if err := c.DataPlane.Apply(k, &cfg); err != nil {
			errs = append(errs, fmt.Errorf("gateway %s: %w", k, err))
			notProgrammed(res, k, err)
			h = 0 // translate and apply again next poll (e.g. once a port is free)
		}
	}
	for k := range c.applied {
		if !seen[k] {
			_ = c.DataPlane.Apply(k, nil)
		}
	}
	c.applied = seen
	if c.Publish != nil {
		if err := c.Publish(res); err != nil {
			errs = append(errs, fmt.Errorf("publishing: %w", err))
			h = 0 // not published: translate again next poll
		}
	}
	c.mu.Lock()
	c.last, c.lastHash, c.translate = res, h, took
	c.mu.Unlock()
	errs = append(errs, c.maybeWriteStatus(ctx, snap, res))
	return errors.Join(errs...)
}

// notProgrammed reports a Gateway whose configuration the data plane rejected (it applies all or
// nothing, e.g. a port it cannot bind) as not Programmed, it and its listeners.
func notProgrammed(res *Result, k types.NamespacedName, err error) {
	st := res.Gateways[k]
	msg := fmt.Sprintf("the data plane rejected the configuration: %v", err)
	mark := func(conds []metav1.Condition) []metav1.Condition {
		conds = slices.Clone(conds)
		for i := range conds {
			if conds[i].Type == string(gwv1.GatewayConditionProgrammed) {
				conds[i].Status, conds[i].Reason, conds[i].Message = metav1.ConditionFalse, string(gwv1.GatewayReasonInvalid), msg
			}
		}
		return conds
	}
	st.Conditions = mark(st.Conditions)
	st.Listeners = slices.Clone(st.Listeners)
	for i := range st.Listeners {
		st.Listeners[i].Conditions = mark(st.Listeners[i].Conditions)
	}
	res.Gateways[k] = st
}

// maybeWriteStatus writes statuses only on the leader (see Controller.Leader).
func (c *Controller) maybeWriteStatus(ctx context.Context, snap *Snapshot, res *Result) error {
	if c.Leader != nil && !c.Leader() {
		return nil
	}
	return c.writeStatus(ctx, snap, res)
}

// ReadSnapshot lists the objects a translation reads.
func ReadSnapshot(ctx context.Context, r client.Reader) (*Snapshot, error) {
	var (
		gcs  gwv1.GatewayClassList
		gws  gwv1.GatewayList
		hrs  gwv1.HTTPRouteList
		grs  gwv1.GRPCRouteList
		rgs  gwv1.ReferenceGrantList
		svcs corev1.ServiceList
		eps  discoveryv1.EndpointSliceList
		nss  corev1.NamespaceList
		secs corev1.SecretList
	)
	for _, l := range []client.ObjectList{&gcs, &gws, &hrs, &grs, &rgs, &svcs, &eps, &nss, &secs} {
		if err := r.List(ctx, l); err != nil {
			return nil, fmt.Errorf("gwapi: listing %T: %w", l, err)
		}
	}
	snap := &Snapshot{GatewayClasses: gcs.Items, Gateways: gws.Items, HTTPRoutes: hrs.Items, GRPCRoutes: grs.Items, ReferenceGrants: rgs.Items,
		Services: svcs.Items, EndpointSlices: eps.Items, Namespaces: nss.Items, Secrets: secs.Items}
	// agentgateway's own kinds are optional: a cluster without their CRDs (or a client whose scheme
	// lacks them) translates without them.
	var (
		bes  agwv1a1.AgentgatewayBackendList
		pos  agwv1a1.AgentgatewayPolicyList
		tlss gwv1.TLSRouteList
		tcps gwv1.TCPRouteList
		btls gwv1.BackendTLSPolicyList
	)
	// TLSRoute and TCPRoute are in Gateway API's experimental channel: optional too.
	for _, l := range []client.ObjectList{&bes, &pos, &tlss, &tcps, &btls} {
		if err := r.List(ctx, l); err != nil && !optionalKindMissing(err) {
			return nil, fmt.Errorf("gwapi: listing %T: %w", l, err)
		}
	}
	snap.Backends, snap.Policies, snap.TLSRoutes, snap.TCPRoutes = bes.Items, pos.Items, tlss.Items, tcps.Items
	snap.BackendTLSPolicies = btls.Items
	if needsConfigMaps(snap.Policies) || gatewaysNeedConfigMaps(snap.Gateways) || len(snap.BackendTLSPolicies) > 0 { // backend_policy.go: listing every ConfigMap only when a CA is named
		var cms corev1.ConfigMapList
		if err := r.List(ctx, &cms); err != nil {
			return nil, fmt.Errorf("gwapi: listing %T: %w", &cms, err)
		}
		snap.ConfigMaps = cms.Items
	}
	var pools infv1.InferencePoolList
	if err := r.List(ctx, &pools); err != nil && !optionalKindMissing(err) {
		return nil, fmt.Errorf("gwapi: listing %T: %w", &pools, err)
	}
	if snap.InferencePools = pools.Items; len(pools.Items) > 0 {
		// Pods are read only when a pool needs them: listing every Pod is costly on a large cluster.
		var pods corev1.PodList
		if err := r.List(ctx, &pods); err != nil {
			return nil, fmt.Errorf("gwapi: listing %T: %w", &pods, err)
		}
		snap.Pods = pods.Items
	}
	return snap, nil
}

// optionalKindMissing reports whether a List failed because the kind is not installed or not known.
func optionalKindMissing(err error) bool {
	return meta.IsNoMatchError(err) || runtime.IsNotRegisteredError(err) || apierrors.IsNotFound(err)
}

// fingerprint identifies the inputs of a translation: generations of Gateway API objects (their
// status writes must not retrigger it) and resource versions of the rest.
func fingerprint(s *Snapshot) uint64 {
	var keys []string
	add := func(kind string, m metav1.Object, v string) {
		keys = append(keys, kind+"/"+m.GetNamespace()+"/"+m.GetName()+"/"+v+"/"+string(m.GetUID()))
	}
	gen := func(m metav1.Object) string { return fmt.Sprint(m.GetGeneration(), m.GetResourceVersion() == "") }
	for i := range s.GatewayClasses {
		add("gc", &s.GatewayClasses[i], gen(&s.GatewayClasses[i])+string(s.GatewayClasses[i].Spec.ControllerName))
	}
	for i := range s.Gateways {
		add("gw", &s.Gateways[i], gen(&s.Gateways[i])+fmt.Sprint(s.Gateways[i].Spec))
	}
	for i := range s.HTTPRoutes {
		add("hr", &s.HTTPRoutes[i], gen(&s.HTTPRoutes[i])+s.HTTPRoutes[i].CreationTimestamp.String())
	}
	for i := range s.GRPCRoutes {
		add("grpc", &s.GRPCRoutes[i], gen(&s.GRPCRoutes[i])+s.GRPCRoutes[i].CreationTimestamp.String())
	}
	for i := range s.TLSRoutes {
		add("tls", &s.TLSRoutes[i], gen(&s.TLSRoutes[i])+s.TLSRoutes[i].CreationTimestamp.String())
	}
	for i := range s.TCPRoutes {
		add("tcp", &s.TCPRoutes[i], gen(&s.TCPRoutes[i])+s.TCPRoutes[i].CreationTimestamp.String())
	}
	for i := range s.Backends {
		add("agbe", &s.Backends[i], gen(&s.Backends[i]))
	}
	for i := range s.Policies {
		add("agpo", &s.Policies[i], gen(&s.Policies[i]))
	}
	for i := range s.BackendTLSPolicies {
		add("btls", &s.BackendTLSPolicies[i], gen(&s.BackendTLSPolicies[i]))
	}
	for i := range s.InferencePools {
		add("pool", &s.InferencePools[i], gen(&s.InferencePools[i]))
	}
	for i := range s.Pods {
		add("pod", &s.Pods[i], s.Pods[i].ResourceVersion)
	}
	for i := range s.ReferenceGrants {
		add("rg", &s.ReferenceGrants[i], s.ReferenceGrants[i].ResourceVersion)
	}
	for i := range s.Services {
		add("svc", &s.Services[i], s.Services[i].ResourceVersion)
	}
	for i := range s.EndpointSlices {
		add("es", &s.EndpointSlices[i], s.EndpointSlices[i].ResourceVersion)
	}
	for i := range s.Namespaces {
		add("ns", &s.Namespaces[i], fmt.Sprint(s.Namespaces[i].Labels))
	}
	for i := range s.Secrets {
		add("sec", &s.Secrets[i], s.Secrets[i].ResourceVersion)
	}
	for i := range s.ConfigMaps {
		add("cm", &s.ConfigMaps[i], s.ConfigMaps[i].ResourceVersion)
	}
	sort.Strings(keys)
	h := fnv.New64a()
	for _, k := range keys {
		_, _ = h.Write([]byte(k))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// mergeConditions keeps lastTransitionTime of conditions whose status did not change.
func mergeConditions(old, cur []metav1.Condition) []metav1.Condition {
	now := metav1.Now()
	out := make([]metav1.Condition, 0, len(cur))
	for _, c := range cur {
		if o := meta.FindStatusCondition(old, c.Type); o != nil && o.Status == c.Status {
			c.LastTransitionTime = o.LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		out = append(out, c)
	}
	return out
}

func sameConditions(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.LastTransitionTime, y.LastTransitionTime = metav1.Time{}, metav1.Time{}
		if x != y {
			return false
		}
	}
	return true
}

// writeStatus writes the statuses of res that differ from the objects' current ones.
func (c *Controller) writeStatus(ctx context.Context, snap *Snapshot, res *Result) error {
	var errs []error
	for i := range snap.GatewayClasses {
		gc := &snap.GatewayClasses[i]
		st, ok := res.GatewayClasses[gc.Name]
		if !ok || sameConditions(gc.Status.Conditions, st.Conditions) {
			continue
		}
		gc.Status.Conditions = mergeConditions(gc.Status.Conditions, st.Conditions)
		errs = append(errs, c.Cluster.Status().Update(ctx, gc))
	}
	for i := range snap.Gateways {
		gw := &snap.Gateways[i]
		st, ok := res.Gateways[nn(gw.Namespace, gw.Name)]
		if !ok {
			continue
		}
		for j := range st.Listeners {
			var old []metav1.Condition
			for _, ol := range gw.Status.Listeners {
				if ol.Name == st.Listeners[j].Name {
					old = ol.Conditions
				}
			}
			st.Listeners[j].Conditions = mergeConditions(old, st.Listeners[j].Conditions)
		}
		st.Conditions = mergeConditions(gw.Status.Conditions, st.Conditions)
		if gatewayStatusEqual(gw.Status, st) {
			continue
		}
		gw.Status = st
		errs = append(errs, c.Cluster.Status().Update(ctx, gw))
	}
	for i := range snap.HTTPRoutes {
		r := &snap.HTTPRoutes[i]
		errs = append(errs, c.writeRouteStatus(ctx, r, &r.Status.RouteStatus, res.HTTPRoutes[nn(r.Namespace, r.Name)]))
	}
	for i := range snap.GRPCRoutes {
		r := &snap.GRPCRoutes[i]
		errs = append(errs, c.writeRouteStatus(ctx, r, &r.Status.RouteStatus, res.GRPCRoutes[nn(r.Namespace, r.Name)]))
	}
	for i := range snap.TLSRoutes {
		r := &snap.TLSRoutes[i]
		errs = append(errs, c.writeRouteStatus(ctx, r, &r.Status.RouteStatus, res.TLSRoutes[nn(r.Namespace, r.Name)]))
	}
	for i := range snap.TCPRoutes {
		r := &snap.TCPRoutes[i]
		errs = append(errs, c.writeRouteStatus(ctx, r, &r.Status.RouteStatus, res.TCPRoutes[nn(r.Namespace, r.Name)]))
	}
	for i := range snap.Policies {
		p := &snap.Policies[i]
		errs = append(errs, c.writePolicyStatus(ctx, p, res.Policies[nn(p.Namespace, p.Name)]))
	}
	for i := range snap.BackendTLSPolicies {
		p := &snap.BackendTLSPolicies[i]
		errs = append(errs, c.writeAncestors(ctx, p, &p.Status.Ancestors, res.BackendTLSPolicies[nn(p.Namespace, p.Name)]))
	}
	return errors.Join(errs...)
}

// writePolicyStatus replaces this controller's ancestors in a policy's status, keeping others'.
func (c *Controller) writePolicyStatus(ctx context.Context, p *agwv1a1.AgentgatewayPolicy, mine []gwv1.PolicyAncestorStatus) error {
	return c.writeAncestors(ctx, p, &p.Status.Ancestors, mine)
}

// writeAncestors replaces this controller's ancestors (in obj's status at st) with mine, keeping
// other controllers', and writes the status if it changed.
func (c *Controller) writeAncestors(ctx context.Context, obj client.Object, st *[]gwv1.PolicyAncestorStatus, mine []gwv1.PolicyAncestorStatus) error {
	var out []gwv1.PolicyAncestorStatus
	for _, a := range *st {
		if a.ControllerName != c.Options.ControllerName {
			out = append(out, a)
		}
	}
	for _, a := range mine {
		var old []metav1.Condition
		for _, oa := range *st {
			if oa.ControllerName == a.ControllerName && reflect.DeepEqual(oa.AncestorRef, a.AncestorRef) {
				old = oa.Conditions
			}
		}
		a.Conditions = mergeConditions(old, a.Conditions)
		out = append(out, a)
	}
	same := len(out) == len(*st)
	for i := 0; same && i < len(out); i++ {
		x, y := out[i], (*st)[i]
		same = x.ControllerName == y.ControllerName && reflect.DeepEqual(x.AncestorRef, y.AncestorRef) && sameConditions(x.Conditions, y.Conditions)
	}
	if same {
		return nil
	}
	*st = out
	return c.Cluster.Status().Update(ctx, obj)
}

// writeRouteStatus replaces this controller's parents in a route's status (st, inside obj) with
// mine, keeping other controllers' parents, and writes it if it changed.
func (c *Controller) writeRouteStatus(ctx context.Context, obj client.Object, st *gwv1.RouteStatus, mine []gwv1.RouteParentStatus) error {
	var parents []gwv1.RouteParentStatus
	for _, p := range st.Parents {
		if p.ControllerName != c.Options.ControllerName {
			parents = append(parents, p) // another controller's
		}
	}
	for _, p := range mine {
		for _, op := range st.Parents {
			if op.ControllerName == p.ControllerName && reflect.DeepEqual(op.ParentRef, p.ParentRef) {
				p.Conditions = mergeConditions(op.Conditions, p.Conditions)
			}
		}
		if p.Conditions[0].LastTransitionTime.IsZero() {
			p.Conditions = mergeConditions(nil, p.Conditions)
		}
		parents = append(parents, p)
	}
	if routeParentsEqual(st.Parents, parents) {
		return nil
	}
	st.Parents = parents
	return c.Cluster.Status().Update(ctx, obj)
}

func gatewayStatusEqual(a, b gwv1.GatewayStatus) bool {
	if !sameConditions(a.Conditions, b.Conditions) || !reflect.DeepEqual(a.Addresses, b.Addresses) || len(a.Listeners) != len(b.Listeners) {
		return false
	}
	for i := range a.Listeners {
		x, y := a.Listeners[i], b.Listeners[i]
		if x.Name != y.Name || x.AttachedRoutes != y.AttachedRoutes || !reflect.DeepEqual(x.SupportedKinds, y.SupportedKinds) || !sameConditions(x.Conditions, y.Conditions) {
			return false
		}
	}
	return true
}

func routeParentsEqual(a, b []gwv1.RouteParentStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ControllerName != b[i].ControllerName || !reflect.DeepEqual(a[i].ParentRef, b[i].ParentRef) || !sameConditions(a[i].Conditions, b[i].Conditions) {
			return false
		}
	}
	return true
}
