package main

import agentgateway "github.com/agentgw/agentgateway"

// addA2ADemo adds the A2A demo route and returns the curl lines that exercise it.
func addA2ADemo(gw *agentgateway.Gateway) []string { return nil }
