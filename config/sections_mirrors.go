package config

import (
	"errors"
	"fmt"
	"net/http"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// buildMirrors builds `requestMirror`: the schema's RequestMirror object, or (an extension) a list
// of them, each mirror getting its own copy of the request — Gateway API lets a rule mirror to
// several backends, and a translation from it renders them this way.
func buildMirrors(bc *BuildContext, n Node) (agentgateway.Policy, error) {
	if n.n == nil || n.n.Kind != yaml.SequenceNode {
		spec, err := Decode[MirrorSpec](n)
		if err != nil {
			return nil, err
		}
		return buildMirror(bc, spec)
	}
	specs, err := Decode[[]MirrorSpec](n)
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, bc.Errorf("", "want a mirror or a non-empty list of them")
	}
	var ms []agentgateway.Policy
	for i, s := range specs {
		m, err := buildMirror(bc.At(fmt.Sprintf("[%d]", i)), s)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return mirrorList(ms), nil
}

// mirrorList runs several mirrors at their phase; the gateway provisions each (their Close is
// registered by buildMirror).
type mirrorList []agentgateway.Policy

func (l mirrorList) Wrap(next http.Handler) http.Handler {
	for i := len(l) - 1; i >= 0; i-- {
		next = l[i].Wrap(next)
	}
	return next
}

func (l mirrorList) Phase() agentgateway.Phase { return agentgateway.PhaseOf(l[0]) }

// Provision implements agentgateway.Provisioner.
func (l mirrorList) Provision(svc agentgateway.Services) error {
	var errs []error
	for _, m := range l {
		if p, ok := m.(agentgateway.Provisioner); ok {
			errs = append(errs, p.Provision(svc))
		}
	}
	return errors.Join(errs...)
}
