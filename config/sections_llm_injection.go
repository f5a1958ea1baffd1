package config

import "github.com/agentgw/agentgateway/llm"

// injectionSpec is a prompt guard's `promptInjection`: the local heuristic detector, rejecting a
// request whose inspected text scores at or above threshold.
type injectionSpec struct {
	Threshold *float64 `json:"threshold"`
	Action    string   `json:"action"`
}

func (s injectionSpec) build(bc *BuildContext) (*llm.Guard, error) {
	switch s.Action {
	case "", "reject":
	default:
		return nil, bc.Errorf("action", "want reject, got %q", s.Action)
	}
	t := llm.DefaultInjectionThreshold
	if s.Threshold != nil {
		t = *s.Threshold
		if t <= 0 || t > 1 {
			return nil, bc.Errorf("threshold", "want a number in (0, 1], got %v", t)
		}
	}
	return llm.PromptInjection(t), nil
}
