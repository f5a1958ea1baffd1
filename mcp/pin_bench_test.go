package mcp_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgw/agentgateway/mcp"
)

// BenchmarkToolsListPinned lists 100 tools of a go-sdk target through the gateway without pins and
// with a pin file (every list fingerprints every tool and stats the file): the difference is what
// pinning costs a list.
func BenchmarkToolsListPinned(b *testing.B) {
	s := sdk.NewServer(&sdk.Implementation{Name: "many", Version: "1"}, nil)
	for i := range 100 {
		s.AddTool(&sdk.Tool{Name: fmt.Sprintf("tool%03d", i), Description: "does thing " + fmt.Sprint(i),
			InputSchema: map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}, "b": map[string]any{"type": "integer"}}}},
			func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
				return &sdk.CallToolResult{}, nil
			})
	}
	up := serveHTTP(b, s, &sdk.StreamableHTTPOptions{JSONResponse: true})
	pins, err := mcp.OpenPins(filepath.Join(b.TempDir(), "pins.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		pins *mcp.PinStore
	}{{"unpinned", nil}, {"pinned", pins}} {
		b.Run(bc.name, func(b *testing.B) {
			target := mcp.HTTPTarget("many", up.URL)
			target.OnToolChange = mcp.PinHide
			gw := gateway(b, mcp.New(mcp.Config{Targets: []mcp.Target{target}, Pins: bc.pins}))
			cs := connect(b, gw.URL+"/mcp", nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				res, err := cs.ListTools(ctx, nil)
				if err != nil || len(res.Tools) != 100 {
					b.Fatal(err, len(res.Tools))
				}
			}
		})
	}
}
