package config

import (
	"encoding/json"
	"fmt"
	"sort"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// mcpGuardrailsSpec is agentgateway's McpGuardrails: an ordered list of processors.
type mcpGuardrailsSpec struct {
	Processors []mcpProcessorSpec `json:"processors"`
}

// mcpProcessorSpec is one Processor: kind cel (or its alias expression) runs in process with when /
// reject / transform; kind remote calls an external policy server, which this gateway does not
// implement (the remote fields are accepted only to be refused by name).
type mcpProcessorSpec struct {
	Kind      string            `json:"kind"`
	Methods   map[string]string `json:"methods"`
	When      string            `json:"when"`
	Reject    string            `json:"reject"`
	Transform string            `json:"transform"`

	Service        json.RawMessage `json:"service"`
	Host           json.RawMessage `json:"host"`
	Backend        json.RawMessage `json:"backend"`
	Policies       json.RawMessage `json:"policies"`
	FailureMode    json.RawMessage `json:"failureMode"`
	Metadata       json.RawMessage `json:"metadata"`
	RequestHeaders json.RawMessage `json:"requestHeaders"`
}

// whyGuardRemote is the refusal of a remote processor.
const whyGuardRemote = "mcpGuardrails processors of kind remote (an external MCP policy server) are not implemented; kinds cel and expression run in process"

func buildMCPGuardrails(bc *BuildContext, s mcpGuardrailsSpec) (agentgateway.Policy, error) {
	if len(s.Processors) == 0 {
		return nil, bc.Errorf("processors", "at least one processor is required")
	}
	gs := make([]mcp.Guardrail, len(s.Processors))
	for i, p := range s.Processors {
		at := bc.At(fmt.Sprintf("processors[%d]", i))
		switch p.Kind {
		case "cel", "expression":
		case "remote":
			return nil, &agentgateway.ConfigError{Path: joinField(at.Path, "kind"), Err: refusalError(whyGuardRemote)}
		case "":
			return nil, at.Errorf("kind", "kind is required (cel, expression or remote)")
		default:
			return nil, at.Errorf("kind", "want cel, expression or remote, got %q", p.Kind)
		}
		if p.Service != nil || p.Host != nil || p.Backend != nil || p.Policies != nil || p.FailureMode != nil || p.Metadata != nil || p.RequestHeaders != nil {
			return nil, at.Errorf("", "service, host, backend, policies, failureMode, metadata and requestHeaders belong to kind remote, not %s", p.Kind)
		}
		if len(p.Methods) == 0 {
			return nil, at.Errorf("methods", "name at least one method (\"tools/call\": request, \"*\": full, ...)")
		}
		g := mcp.Guardrail{Methods: map[string]mcp.GuardPhase{}, Reject: p.Reject}
		keys := make([]string, 0, len(p.Methods))
		for k := range p.Methods {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ph, err := mcp.ParseGuardPhase(p.Methods[k])
			if err != nil {
				return nil, at.Errorf(fmt.Sprintf("methods[%q]", k), "%v", err)
			}
			g.Methods[k] = ph
		}
		if (p.Reject == "") == (p.Transform == "") {
			return nil, at.Errorf("", "set exactly one of reject and transform")
		}
		if p.When != "" {
			prg, err := cel.Compile(p.When, celgo.BoolType)
			if err != nil {
				return nil, at.Errorf("when", "%v", err)
			}
			g.When = prg
		}
		if p.Transform != "" {
			prg, err := cel.Compile(p.Transform, nil)
			if err != nil {
				return nil, at.Errorf("transform", "%v", err)
			}
			g.Transform = prg
		}
		gs[i] = g
	}
	pol, err := mcp.Guardrails(gs...)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	return pol, nil
}
