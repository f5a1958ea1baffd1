package config

import (
	"time"

	"github.com/agentgw/agentgateway/llm"
)

// activeHealthSpec is a model's health.active (agentgateway's ActiveHealthCheck, newer than the
// schema): probe the provider on a timer and evict it while it fails. Every field has a default, so
// `active: {}` probes with the defaults (llm.Default*).
type activeHealthSpec struct {
	Path               *string        `json:"path"`
	Interval           *time.Duration `json:"interval"`
	Timeout            *time.Duration `json:"timeout"`
	HealthyThreshold   *int           `json:"healthyThreshold"`
	UnhealthyThreshold *int           `json:"unhealthyThreshold"`
	ExpectedStatuses   []int          `json:"expectedStatuses"`
}

// check validates the spec as agentgateway does and translates it; errors are at its fields.
func (s activeHealthSpec) check(bc *BuildContext) (llm.ActiveHealthCheck, error) {
	c := llm.ActiveHealthCheck{ExpectedStatuses: s.ExpectedStatuses}
	if s.Path != nil {
		if len(*s.Path) == 0 || (*s.Path)[0] != '/' {
			return c, bc.Errorf("path", "must start with /")
		}
		c.Path = *s.Path
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		to   *time.Duration
	}{{"interval", s.Interval, &c.Interval}, {"timeout", s.Timeout, &c.Timeout}} {
		if d.v != nil {
			if *d.v <= 0 {
				return c, bc.Errorf(d.name, "must be greater than zero")
			}
			*d.to = *d.v
		}
	}
	for _, n := range []struct {
		name string
		v    *int
		to   *int
	}{{"healthyThreshold", s.HealthyThreshold, &c.HealthyThreshold}, {"unhealthyThreshold", s.UnhealthyThreshold, &c.UnhealthyThreshold}} {
		if n.v != nil {
			if *n.v < 1 {
				return c, bc.Errorf(n.name, "must be at least 1")
			}
			*n.to = *n.v
		}
	}
	for i, code := range s.ExpectedStatuses {
		if code < 100 || code > 599 {
			return c, bc.Errorf("expectedStatuses", "entry %d: %d is not an HTTP status code (100-599)", i, code)
		}
	}
	return c, nil
}
