package gwapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// ErrDecode marks manifests that cannot be read.
var ErrDecode = errors.New("gwapi: decoding manifests")

// DecodeManifests reads multi-document Kubernetes YAML (or JSON) into a Snapshot, so that a
// configuration written as Gateway API objects can be served without a cluster. Objects without a
// namespace are put in "default". Kinds the translator does not read are an error.
func DecodeManifests(r io.Reader) (*Snapshot, error) {
	snap := &Snapshot{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return snap, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: document %d: %w", ErrDecode, i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		// YAML is parsed once (the costly part); kind and object are read from its JSON form.
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%w: document %d: %w", ErrDecode, i, err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%w: document %d: %w", ErrDecode, i, err)
		}
		if err := decodeInto(snap, head.APIVersion, head.Kind, js); err != nil {
			return nil, fmt.Errorf("%w: document %d (%s %s): %w", ErrDecode, i, head.APIVersion, head.Kind, err)
		}
	}
}

// decodeInto decodes one document's JSON, refusing unknown fields.
func decodeInto(snap *Snapshot, apiVersion, kind string, doc []byte) error {
	strict := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(doc))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			return err
		}
		if d.More() {
			return errors.New("trailing data after the object")
		}
		return nil
	}
	var err error
	switch apiVersion + "/" + kind {
	case gwv1.GroupVersion.String() + "/GatewayClass":
		var o gwv1.GatewayClass
		if err = strict(&o); err == nil {
			snap.GatewayClasses = append(snap.GatewayClasses, o)
		}
	case gwv1.GroupVersion.String() + "/Gateway":
		var o gwv1.Gateway
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.Gateways = append(snap.Gateways, o)
		}
	case gwv1.GroupVersion.String() + "/HTTPRoute":
		var o gwv1.HTTPRoute
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.HTTPRoutes = append(snap.HTTPRoutes, o)
		}
	case gwv1.GroupVersion.String() + "/GRPCRoute":
		var o gwv1.GRPCRoute
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.GRPCRoutes = append(snap.GRPCRoutes, o)
		}
	case gwv1.GroupVersion.String() + "/TLSRoute":
		var o gwv1.TLSRoute
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.TLSRoutes = append(snap.TLSRoutes, o)
		}
	case gwv1.GroupVersion.String() + "/TCPRoute":
		var o gwv1.TCPRoute
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.TCPRoutes = append(snap.TCPRoutes, o)
		}
	case gwv1.GroupVersion.String() + "/ReferenceGrant", gwv1.GroupName + "/v1beta1/ReferenceGrant":
		var o gwv1.ReferenceGrant
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.ReferenceGrants = append(snap.ReferenceGrants, o)
		}
	case gwv1.GroupVersion.String() + "/BackendTLSPolicy":
		var o gwv1.BackendTLSPolicy
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.BackendTLSPolicies = append(snap.BackendTLSPolicies, o)
		}
	case "v1/Service":
		var o corev1.Service
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.Services = append(snap.Services, o)
		}
	case "discovery.k8s.io/v1/EndpointSlice":
		var o discoveryv1.EndpointSlice
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.EndpointSlices = append(snap.EndpointSlices, o)
		}
	case agwv1a1.GroupVersion.String() + "/" + agwv1a1.KindBackend:
		var o agwv1a1.AgentgatewayBackend
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.Backends = append(snap.Backends, o)
		}
	case agwv1a1.GroupVersion.String() + "/" + agwv1a1.KindPolicy:
		var o agwv1a1.AgentgatewayPolicy
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.Policies = append(snap.Policies, o)
		}
	case infv1.GroupVersion.String() + "/" + infv1.KindInferencePool:
		var o infv1.InferencePool
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.InferencePools = append(snap.InferencePools, o)
		}
	case "v1/Pod":
		var o corev1.Pod
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.Pods = append(snap.Pods, o)
		}
	case "v1/Namespace":
		var o corev1.Namespace
		if err = strict(&o); err == nil {
			snap.Namespaces = append(snap.Namespaces, o)
		}
	case "v1/Secret":
		var o corev1.Secret
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.Secrets = append(snap.Secrets, o)
		}
	case "v1/ConfigMap":
		var o corev1.ConfigMap
		if err = strict(&o); err == nil {
			defaultNS(&o.Namespace)
			snap.ConfigMaps = append(snap.ConfigMaps, o)
		}
	default:
		return ErrUnsupported
	}
	return err
}

func defaultNS(ns *string) {
	if *ns == "" {
		*ns = "default"
	}
}
