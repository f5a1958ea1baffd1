package main

import agentgateway "github.com/agentgw/agentgateway"

// addMCPDemo adds the MCP demo route and returns the curl lines that exercise it.
func addMCPDemo(gw *agentgateway.Gateway) []string { return nil }
