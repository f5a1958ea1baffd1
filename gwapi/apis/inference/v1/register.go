package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// GroupName is the Inference Extension's API group.
const GroupName = "inference.networking.k8s.io"

var (
	// GroupVersion is inference.networking.k8s.io/v1.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}
	// SchemeBuilder registers the types of this package.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(&InferencePool{}, &InferencePoolList{})
}
