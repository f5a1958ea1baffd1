package gwapi

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	"github.com/agentgw/agentgateway/inference"
)

// inferencePool resolves a backendRef to an InferencePool: its ready Pods on its target ports are the
// endpoints, and its endpointPickerRef Service is asked which one serves each request. One handler
// (and picker connection) is built per pool per translation.
func (t *translator) inferencePool(fromKind, routeNS string, ref gwv1.BackendObjectReference) (http.Handler, *refError) {
	ns := routeNS
	if ref.Namespace != nil && string(*ref.Namespace) != routeNS {
		ns = string(*ref.Namespace)
		if !t.granted(groupGateway, fromKind, routeNS, infv1.GroupName, infv1.KindInferencePool, ns, string(ref.Name)) {
			return nil, &refError{string(gwv1.RouteReasonRefNotPermitted), fmt.Sprintf("no ReferenceGrant lets %s refer to InferencePool %s/%s", routeNS, ns, ref.Name)}
		}
	}
	key := nn(ns, string(ref.Name))
	if m, ok := t.poolBuilt[key]; ok {
		return m.h, m.err
	}
	var pool *infv1.InferencePool
	for i := range t.snap.InferencePools {
		if p := &t.snap.InferencePools[i]; p.Namespace == ns && p.Name == string(ref.Name) {
			pool = p
		}
	}
	built := builtBackend{}
	if pool == nil {
		built.err = &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("InferencePool %s/%s not found", ns, ref.Name)}
	} else if h, err := t.buildPool(pool); err != nil {
		built.err = &refError{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("InferencePool %s/%s: %v", ns, ref.Name, err)}
	} else {
		built.h = h
	}
	t.poolBuilt[key] = built
	return built.h, built.err
}

func (t *translator) buildPool(p *infv1.InferencePool) (http.Handler, error) {
	name := p.Namespace + "/" + p.Name
	sel := labels.SelectorFromSet(p.Spec.Selector.MatchLabels)
	if len(p.Spec.Selector.MatchLabels) == 0 {
		return nil, fmt.Errorf("selector.matchLabels is empty")
	}
	var eps []string
	for i := range t.snap.Pods {
		pod := &t.snap.Pods[i]
		if pod.Namespace != p.Namespace || pod.Status.PodIP == "" || pod.DeletionTimestamp != nil || !podReady(pod) || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, tp := range p.Spec.TargetPorts {
			eps = append(eps, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(tp.Number))))
		}
	}
	if len(eps) == 0 {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no ready endpoints in InferencePool "+name, http.StatusServiceUnavailable)
		}), nil
	}
	slices.Sort(eps)
	epp := p.Spec.EndpointPickerRef
	if (epp.Group != nil && *epp.Group != "") || (epp.Kind != "" && epp.Kind != kindService) {
		return nil, fmt.Errorf("endpointPickerRef must be a core Service: %w", ErrUnsupported)
	}
	if epp.Port == nil {
		return nil, fmt.Errorf("endpointPickerRef.port is required for a Service")
	}
	addr, err := t.serviceAddress(types.NamespacedName{Namespace: p.Namespace, Name: epp.Name}, epp.Port.Number)
	if err != nil {
		return nil, fmt.Errorf("endpointPickerRef: %w", err)
	}
	return inference.NewPool(inference.PoolConfig{Name: name, Endpoints: eps, Transport: t.transports.get(false), Logger: t.opts.Logger,
		Picker: inference.PickerConfig{Address: addr, FailOpen: epp.FailureMode == infv1.EndpointPickerFailOpen, DialContext: t.opts.DialContext}})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// serviceAddress is one ready endpoint of a Service port (from its EndpointSlices), else the
// Service's cluster DNS name.
func (t *translator) serviceAddress(svc types.NamespacedName, port int32) (string, error) {
	s := t.services[svc]
	if s == nil {
		return "", fmt.Errorf("service %s not found", svc)
	}
	var sp *corev1.ServicePort
	for i := range s.Spec.Ports {
		if s.Spec.Ports[i].Port == port {
			sp = &s.Spec.Ports[i]
		}
	}
	if sp == nil {
		return "", fmt.Errorf("service %s has no port %d", svc, port)
	}
	var eps []string
	for _, es := range t.slices[svc] {
		for _, ep := range es.Ports {
			if ep.Port == nil || (ep.Name != nil && *ep.Name != sp.Name) || (ep.Name == nil && sp.Name != "") {
				continue
			}
			for _, e := range es.Endpoints {
				if e.Conditions.Ready != nil && !*e.Conditions.Ready {
					continue
				}
				for _, a := range e.Addresses {
					eps = append(eps, net.JoinHostPort(a, strconv.Itoa(int(*ep.Port))))
				}
			}
		}
	}
	if len(eps) > 0 {
		slices.Sort(eps)
		return eps[0], nil
	}
	return net.JoinHostPort(fmt.Sprintf("%s.%s.svc.cluster.local", svc.Name, svc.Namespace), strconv.Itoa(int(port))), nil
}
