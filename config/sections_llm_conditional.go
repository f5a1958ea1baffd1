package config

import (
	"fmt"

	celgo "github.com/google/cel-go/cel"

	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/llm"
)

// llmConditionalSpec is the schema's LocalLLMConditionalRouting.
type llmConditionalSpec struct {
	Targets []struct {
		When  *string `json:"when"`
		Model string  `json:"model"`
	} `json:"targets"`
}

// conditionalVirtual builds a conditional virtual model (bc is the virtual model's context); a
// condition that does not compile is reported at its own path.
func conditionalVirtual(bc *BuildContext, name string, n Node) (llm.Option, error) {
	spec, err := Decode[llmConditionalSpec](n)
	if err != nil {
		return nil, err
	}
	if len(spec.Targets) == 0 {
		return nil, bc.Errorf("routing.conditional.targets", "at least one target is required")
	}
	targets := make([]llm.CondTarget, 0, len(spec.Targets))
	for i, t := range spec.Targets {
		field := fmt.Sprintf("routing.conditional.targets[%d]", i)
		if t.Model == "" {
			return nil, bc.Errorf(field+".model", "a model is required")
		}
		var when string
		if t.When != nil {
			when = *t.When
			if when == "" {
				return nil, bc.Errorf(field+".when", "empty condition (omit when on the final fallback target)")
			}
			if _, err := cel.Compile(when, celgo.BoolType); err != nil {
				return nil, bc.Errorf(field+".when", "%w", err)
			}
		} else if i != len(spec.Targets)-1 {
			return nil, bc.Errorf(field+".when", "only the final fallback target may omit its condition")
		}
		targets = append(targets, llm.CondTarget{When: when, Model: t.Model})
	}
	return llm.Conditional(name, targets...), nil
}
