package config_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/signal"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/policy"
)

// A file in agentgateway's standalone schema is loaded (decoded and validated), built into runtime
// objects, and applied to a Gateway.
func ExampleLoad() {
	file, err := config.Load([]byte(`
binds:
- port: 3000
  listeners:
  - routes:
    - name: hello
      matches: [{path: {exact: /hello}}]
      policies:
        responseHeaderModifier: {set: {x-served-by: agentgateway}}
        directResponse: {status: 200, body: "hello, $WHO"}
`), func(name string) (string, bool) { return "world", name == "WHO" })
	if err != nil {
		panic(err)
	}
	rt, err := file.Build(slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Apply(rt.Config); err != nil {
		panic(err)
	}
	// gw.Run would serve port 3000; PortHandler serves a request as if it had arrived there.
	port := rt.Config.Listeners[0].Port
	w := httptest.NewRecorder()
	gw.PortHandler(port).ServeHTTP(w, httptest.NewRequest("GET", "/hello", nil))
	fmt.Println(port, w.Code, w.Header().Get("X-Served-By"), w.Body.String())
	// Output: 3000 200 agentgateway hello, world
}

// Errors name the field path, so a bad file is fixed at the right line.
func ExampleLoad_errors() {
	_, err := config.Load([]byte(`
binds:
- port: 3000
  listeners:
  - routes:
    - matches: [{path: {prefix: /api}}]
      backends: [{host: "127.0.0.1:9000"}]
`), nil)
	fmt.Println(err)
	// Output: binds[0].listeners[0].routes[0].matches[0].path.prefix: unknown field "prefix" (line 6)
}

// A program serving a config file the way the agentgateway binary does: Run binds the ports the file's
// listeners name, and the watcher re-applies the file when it changes; a change that cannot be bound
// yet is retried, and never half-applied.
func ExampleWatchFile() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	gw := agentgateway.New(agentgateway.WithBindAddress("127.0.0.1"))
	w, err := config.WatchFile("config.yaml", config.WatchOptions{}, func(rt *config.Runtime) error {
		return gw.Apply(rt.Config)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	defer gw.Close()
	go w.Run(ctx)
	if err := gw.Run(ctx); err != nil { // drains on Ctrl-C
		log.Fatal(err)
	}
}

// A translator from another source of configuration (Gateway API resources, xDS) builds policies with
// the packages' Go configs and reuses a BuildContext for what the YAML rows share: file resolution,
// service resolution, cleanup, and errors at its own field paths.
func ExampleNewBuildContext() {
	bc := config.NewBuildContext("/etc/agentgateway", agentgateway.Services{Logger: slog.New(slog.DiscardHandler)})
	defer bc.Close()
	filter := bc.At("spec.rules[0].filters[1]")
	_, err := policy.NewCORS(policy.CORSConfig{AllowOrigins: []string{"app.example.com"}})
	fmt.Println(filter.Wrap(err))
	fmt.Println(filter.File("keys/jwks.json"))
	host, _ := filter.Service("backendRef", config.ServiceRef{Name: "auth/ext-authz.auth.svc", Port: 9000})
	fmt.Println(host)
	// Output:
	// spec.rules[0].filters[1].allowOrigins[0]: origin "app.example.com" must be scheme://host[:port] without a path
	// /etc/agentgateway/keys/jwks.json
	// ext-authz.auth.svc:9000
}
