package config

import (
	"io"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/inference"
)

// inferenceSpec is the schema's InferenceRouting, a backend policy: requests to a service backend ask
// an endpoint picker (the Gateway API Inference Extension's EPP, over Envoy ext_proc) which of the
// service's endpoints serves them — agentgateway's llm-standalone-epp mode. Like health, it shapes the
// backend itself, so it is taken out of the backend's policies and handed to the backend's builder.
type inferenceSpec struct {
	EndpointPicker  pickerRef `json:"endpointPicker"`
	DestinationMode string    `json:"destinationMode"`
	// FailureMode (an extension: the schema has none) is what a picker failure does: failClosed
	// (503, the default) or failOpen (a random endpoint of the service serves), the Inference
	// Extension's endpointPickerRef.failureMode, which a Kubernetes control plane renders here.
	FailureMode string `json:"failureMode"`

	path string // of the backend spec that must consume it
	at   string // of the policy, for errors
	used bool
}

// pickerRef is the schema's SimpleLocalBackendSerde: where the endpoint picker listens.
type pickerRef struct {
	Host    string      `json:"host"`
	Service *ServiceRef `json:"service"`
	Backend string      `json:"backend"`
}

// takeInference removes `inferenceRouting` from a backend's policies and decodes it for the backend at
// specPath.
func takeInference(policies Node, specPath string) (Node, *inferenceSpec, error) {
	if policies.IsZero() || policies.n.Kind != yaml.MappingNode {
		return policies, nil, nil
	}
	var out *inferenceSpec
	rest := *policies.n
	rest.Content = nil
	for i := 0; i+1 < len(policies.n.Content); i += 2 {
		k, v := policies.n.Content[i], policies.n.Content[i+1]
		if k.Value != "inferenceRouting" {
			rest.Content = append(rest.Content, k, v)
			continue
		}
		if v.Tag == "!!null" {
			continue
		}
		fp := joinPath(policies.path, "inferenceRouting")
		s, err := Decode[inferenceSpec](Node{n: v, path: fp})
		if err != nil {
			return policies, nil, err
		}
		switch s.DestinationMode {
		case "", "validated", "passthrough":
		default:
			return policies, nil, agentgateway.Errorf(fp+".destinationMode", "unknown mode %q (validated, passthrough)", s.DestinationMode)
		}
		switch s.FailureMode {
		case "", "failClosed", "failOpen":
		default:
			return policies, nil, agentgateway.Errorf(fp+".failureMode", "unknown mode %q (failClosed, failOpen)", s.FailureMode)
		}
		n := 0
		for _, set := range []bool{s.EndpointPicker.Host != "", s.EndpointPicker.Service != nil, s.EndpointPicker.Backend != ""} {
			if set {
				n++
			}
		}
		switch {
		case n != 1:
			return policies, nil, agentgateway.Errorf(fp+".endpointPicker", "set one of host, service, backend")
		case s.EndpointPicker.Backend != "":
			return policies, nil, agentgateway.Errorf(fp+".endpointPicker.backend", "name the picker by host or service (a named backend is an HTTP handler, the picker speaks gRPC)")
		}
		s.path, s.at = specPath, fp
		out = &s
	}
	if len(rest.Content) == 0 {
		return Node{}, out, nil
	}
	return Node{n: &rest, path: policies.path}, out, nil
}

// inferencePassthrough reports whether the backend being built trusts its picker's choices, so that it
// needs no local endpoints.
func inferencePassthrough(bc *BuildContext) bool {
	s := bc.inference
	return s != nil && s.path == bc.Path && s.DestinationMode == "passthrough"
}

// inferenceIdle marks the backend's inferenceRouting as applied when the service has no endpoints for
// a validated picker to choose from (the backend answers 503 without asking it).
func inferenceIdle(bc *BuildContext) {
	if s := bc.inference; s != nil && s.path == bc.Path {
		s.used = true
	}
}

// inferencePool builds the endpoint-picked backend over a service's endpoints when the backend being
// built has inferenceRouting; ok is false when it has none.
func inferencePool(bc *BuildContext, name string, endpoints []string) (h http.Handler, ok bool, err error) {
	s := bc.inference
	if s == nil || s.path != bc.Path {
		return nil, false, nil
	}
	s.used = true
	addr := s.EndpointPicker.Host
	if ref := s.EndpointPicker.Service; ref != nil {
		if addr, err = bc.Service(s.at+".endpointPicker.service", *ref); err != nil {
			return nil, true, err
		}
	}
	// failClosed unless failureMode says otherwise, the Inference Extension's default.
	// passthrough: the picker's "ip:port" is trusted even when it is not one of the service's
	// endpoints (the picker knows model servers this gateway does not).
	cfg := inference.PoolConfig{Name: name, Endpoints: endpoints, Logger: bc.Logger,
		Passthrough: s.DestinationMode == "passthrough", Picker: inference.PickerConfig{Address: addr, FailOpen: s.FailureMode == "failOpen"}}
	if d := bc.res.dial; d != nil { // File.SetDialer: the model servers and the picker too
		cfg.Transport, cfg.Picker.DialContext = &http.Transport{DialContext: d, Proxy: nil}, d
	}
	p, err := inference.NewPool(cfg)
	if err != nil {
		return nil, true, agentgateway.Errorf(s.at, "%w", err)
	}
	// Its picker connection runs from now on: a build that fails later must close it too.
	bc.OnClose(&closeOnce{c: p})
	return p, true, nil
}

// closeOnce closes c once, whether the build's cleanup or the gateway retiring the backend comes
// first.
type closeOnce struct {
	once sync.Once
	c    io.Closer
	err  error
}

func (o *closeOnce) Close() error {
	o.once.Do(func() { o.err = o.c.Close() })
	return o.err
}
