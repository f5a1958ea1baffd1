package config

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/agentgw/agentgateway/mcp"
)

// mcpApprovalSpec is the extension `approval` of an MCP backend (mcp.Approval): tools/call requests
// matching `when` wait for the webhook's answer.
type mcpApprovalSpec struct {
	When    string            `json:"when"`
	Webhook string            `json:"webhook"`
	Timeout time.Duration     `json:"timeout"`
	Headers map[string]string `json:"headers"`
}

// applyMCPExtensions applies the extensions beyond agentgateway's schema for tool pinning and
// approval (mcp.Config.Pins and Approval, mcp.Target.OnToolChange):
//
//	pins: pins.json           # the pin file (relative to the config file); default: the binary's --pins
//	pinning: hide             # default pin mode of the targets: allow (default), hide or fail
//	targets:
//	- name: github
//	  pinning: fail           # this target's own pin mode
//	approval:
//	  when: '!mcp.tool.annotations.readOnlyHint && mcp.tool.annotations.destructiveHint'
//	  webhook: https://approvals.example.com/mcp
//	  timeout: 2m
//	  headers: {Authorization: "Bearer $APPROVAL_TOKEN"}
//
// Without a pin file (neither `pins` nor --pins) nothing is pinned.
func applyMCPExtensions(bc *BuildContext, cfg *mcp.Config, s mcpBackendSpec) error {
	path := s.Pins
	if path != "" && !filepath.IsAbs(path) {
		path = filepath.Join(bc.Dir, path)
	}
	if path == "" {
		path = bc.res.pins
	}
	if path == "" && (s.Pinning != "" || hasTargetPinning(s.Targets)) {
		return bc.Errorf("pinning", "pin modes need a pin file: set pins (or run with --pins)")
	}
	if path != "" {
		pins, err := mcp.OpenPins(path)
		if err != nil {
			return bc.Errorf("pins", "%v", err)
		}
		cfg.Pins = pins
	}
	def, err := mcp.ParsePinMode(s.Pinning)
	if err != nil {
		return bc.Errorf("pinning", "%v", err)
	}
	for i, ts := range s.Targets {
		mode := def
		if ts.Pinning != "" {
			if mode, err = mcp.ParsePinMode(ts.Pinning); err != nil {
				return bc.Errorf(fmt.Sprintf("targets[%d].pinning", i), "%v", err)
			}
		}
		cfg.Targets[i].OnToolChange = mode
	}
	if a := s.Approval; a != nil {
		cfg.Approval = &mcp.Approval{When: a.When, Webhook: a.Webhook, Timeout: a.Timeout}
		if len(a.Headers) > 0 {
			cfg.Approval.Headers = http.Header{}
			for k, v := range a.Headers {
				cfg.Approval.Headers.Set(k, v)
			}
		}
	}
	return nil
}

func hasTargetPinning(ts []mcpTargetSpec) bool {
	for _, t := range ts {
		if t.Pinning != "" {
			return true
		}
	}
	return false
}

// SetMCPPins sets the pin file of the MCP backends that name none (the binary's --pins): their
// targets' tools are pinned there. Relative paths are taken as they are (from the working directory).
func (f *File) SetMCPPins(path string) { f.mcpPins = path }
