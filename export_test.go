package agentgateway

import (
	"math/rand/v2"
	"net/http"
)

// CompileForBenchmark exposes the route lookup alone, without the handler chain, to benchmarks.
func CompileForBenchmark(l ListenerConfig) func(*http.Request) bool {
	s, err := compile(Config{Listeners: []ListenerConfig{l}}, rand.IntN)
	if err != nil {
		panic(err)
	}
	return func(r *http.Request) bool {
		e, _ := s.route(r)
		return e != nil
	}
}

// NormalizeEscapedPath exposes path normalization to the fuzz test.
var NormalizeEscapedPath = normalizeEscapedPath

// NewTelemetryObserver exposes the gateway's telemetry observer to benchmarks.
func NewTelemetryObserver(svc Services) Observer { return newTelemetry(svc) }
