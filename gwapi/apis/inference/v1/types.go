package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KindInferencePool is the kind an HTTPRoute backendRef names (group inference.networking.k8s.io).
const KindInferencePool = "InferencePool"

// InferencePool is a set of model-server Pods with an endpoint picker that chooses, per request,
// which of them serves it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
type InferencePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   InferencePoolSpec   `json:"spec"`
	Status InferencePoolStatus `json:"status,omitempty"`
}

// InferencePoolSpec selects the pool's Pods and names its endpoint picker.
type InferencePoolSpec struct {
	// Selector picks the model-server Pods in the pool's namespace.
	Selector LabelSelector `json:"selector"`
	// TargetPorts are the ports the model servers listen on.
	//
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	TargetPorts []Port `json:"targetPorts"`
	// EndpointPickerRef is the endpoint picker (a Service running an EPP).
	EndpointPickerRef EndpointPickerRef `json:"endpointPickerRef"`
}

// LabelSelector matches labels exactly.
type LabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// Port is a port number.
type Port struct {
	Number int32 `json:"number"`
}

// EndpointPickerFailureMode says what happens when the endpoint picker does not answer.
//
// +kubebuilder:validation:Enum=FailOpen;FailClose
type EndpointPickerFailureMode string

// The failure modes.
const (
	EndpointPickerFailOpen  EndpointPickerFailureMode = "FailOpen"
	EndpointPickerFailClose EndpointPickerFailureMode = "FailClose"
)

// EndpointPickerRef names the endpoint picker's Service and port.
type EndpointPickerRef struct {
	// Group defaults to "" (core).
	Group *string `json:"group,omitempty"`
	// Kind defaults to Service.
	Kind string `json:"kind,omitempty"`
	Name string `json:"name"`
	Port *Port  `json:"port,omitempty"`
	// FailureMode defaults to FailClose.
	FailureMode EndpointPickerFailureMode `json:"failureMode,omitempty"`
}

// InferencePoolStatus reports, per parent Gateway, whether the pool is accepted.
type InferencePoolStatus struct {
	Parents []ParentStatus `json:"parents,omitempty"`
}

// ParentStatus is the status of the pool for one parent.
type ParentStatus struct {
	ParentRef  ParentReference    `json:"parentRef"`
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ParentReference names a parent (a Gateway).
type ParentReference struct {
	Group     *string `json:"group,omitempty"`
	Kind      string  `json:"kind,omitempty"`
	Namespace string  `json:"namespace,omitempty"`
	Name      string  `json:"name"`
}

// InferencePoolList is a list of InferencePools.
//
// +kubebuilder:object:root=true
type InferencePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []InferencePool `json:"items"`
}
