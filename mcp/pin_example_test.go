package mcp_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/agentgw/agentgateway/mcp"
)

// Pin the tools of a target in a file, hiding a tool whose definition changes until an operator
// accepts the change (in the file, or with PinStore.Accept).
func ExampleOpenPins() {
	dir, _ := os.MkdirTemp("", "pins")
	defer os.RemoveAll(dir)
	pins, err := mcp.OpenPins(filepath.Join(dir, "pins.json"))
	if err != nil {
		panic(err)
	}
	github := mcp.HTTPTarget("github", "http://github-mcp:8080/mcp")
	github.OnToolChange = mcp.PinHide
	f := mcp.New(mcp.Config{Targets: []mcp.Target{github}, Pins: pins})
	defer f.Close()
	fmt.Println(f.Validate(), len(pins.Pending()))
	// Output: <nil> 0
}

// Hold calls to destructive tools until an approval service says yes; the service answers
// {"allow": true} or {"allow": false, "reason": "..."} to a POSTed mcp.ApprovalRequest.
func ExampleApproval() {
	f := mcp.New(mcp.Config{
		Targets: []mcp.Target{mcp.HTTPTarget("db", "http://db-mcp:8080/mcp")},
		Approval: &mcp.Approval{
			When:    "!mcp.tool.annotations.readOnlyHint && mcp.tool.annotations.destructiveHint",
			Webhook: "https://approvals.example.com/mcp",
			Timeout: 2 * time.Minute,
			Headers: http.Header{"Authorization": {"Bearer approval-service-token"}},
		},
	})
	defer f.Close()
	fmt.Println(f.Validate())
	// Output: <nil>
}
