package config

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/agentgw/agentgateway/llm"
)

// serverToolsSpec is an llm.models entry's serverTools (newer than the schema): declared server
// tools (Anthropic web_search_* and the like) that the gateway fulfils with MCP tools.
type serverToolsSpec struct {
	MaxIterations     *int          `json:"maxIterations"`
	KeepaliveInterval time.Duration `json:"keepaliveInterval"`
	FailureMode       string        `json:"failureMode"`
	MaxResultBytes    *int          `json:"maxResultBytes"`
	Tools             []struct {
		Type        string         `json:"type"`
		Description string         `json:"description"`
		InputSchema map[string]any `json:"inputSchema"`
		MCP         *struct {
			Backend string `json:"backend"`
			Target  string `json:"target"`
			Tool    string `json:"tool"`
		} `json:"mcp"`
	} `json:"tools"`
}

// serverToolsOption compiles serverTools; each mcp.backend names a top-level MCP backend, whose
// federation (built once, shared with routes) answers the tool calls in process.
func serverToolsOption(bc *BuildContext, n Node) (llm.ModelOption, error) {
	s, err := Decode[serverToolsSpec](n)
	if err != nil {
		return nil, err
	}
	var st llm.ServerTools
	if s.MaxIterations != nil {
		if *s.MaxIterations < 1 {
			return nil, bc.Errorf("maxIterations", "want at least 1, got %d", *s.MaxIterations)
		}
		st.MaxIterations = *s.MaxIterations
	}
	if s.KeepaliveInterval < 0 || (s.KeepaliveInterval > 0 && s.KeepaliveInterval < 100*time.Millisecond) {
		return nil, bc.Errorf("keepaliveInterval", "want at least 100ms, got %s", s.KeepaliveInterval)
	}
	st.KeepaliveInterval = s.KeepaliveInterval
	switch s.FailureMode {
	case "", "failClosed":
		st.FailureMode = llm.ServerToolFailClosed
	case "failOpen":
		st.FailureMode = llm.ServerToolFailOpen
	default:
		return nil, bc.Errorf("failureMode", "want failClosed or failOpen, got %q", s.FailureMode)
	}
	if s.MaxResultBytes != nil {
		if *s.MaxResultBytes < 1 {
			return nil, bc.Errorf("maxResultBytes", "want at least 1, got %d", *s.MaxResultBytes)
		}
		st.MaxResultBytes = *s.MaxResultBytes
	}
	if len(s.Tools) == 0 {
		return nil, bc.Errorf("tools", "at least one tool is required")
	}
	for i, t := range s.Tools {
		tbc := bc.At(fmt.Sprintf("tools[%d]", i))
		switch {
		case t.Type == "":
			return nil, tbc.Errorf("type", "a tool type (such as web_search_*) is required")
		case t.MCP == nil || t.MCP.Backend == "" || t.MCP.Tool == "":
			return nil, tbc.Errorf("mcp", "want {backend: <top-level MCP backend>, tool: <tool name>}")
		case t.MCP.Target != "":
			return nil, tbc.Errorf("mcp.target", "not supported yet: the backend's federation names the tool; give its federated name in mcp.tool")
		}
		nb, err := tbc.namedBackend("mcp.backend", t.MCP.Backend)
		if err != nil {
			return nil, err
		}
		if nb.spec.Kind != "mcp" {
			return nil, tbc.Errorf("mcp.backend", "backend %q is a %s backend; serverTools need an mcp backend", t.MCP.Backend, nb.spec.Kind)
		}
		h, err := tbc.buildNamed("mcp.backend", t.MCP.Backend)
		if err != nil {
			return nil, err
		}
		tool := llm.ServerTool{Type: t.Type, MCP: h, Tool: t.MCP.Tool, Description: t.Description}
		if t.InputSchema != nil {
			if tool.InputSchema, err = json.Marshal(t.InputSchema); err != nil {
				return nil, tbc.Errorf("inputSchema", "%v", err)
			}
		}
		st.Tools = append(st.Tools, tool)
	}
	return llm.WithServerTools(st), nil
}
