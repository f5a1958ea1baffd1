package agentgateway

// EndpointHealth is the passive-health state of one endpoint of a backend (see HTTPBackendConfig's
// EjectAfter): what an admin page shows as upstream health.
type EndpointHealth struct {
	Endpoint string `json:"endpoint"`
	// Healthy is false while the endpoint is ejected from load balancing.
	Healthy  bool  `json:"healthy"`
	InFlight int64 `json:"inFlight"`
	// ConsecutiveFailures counts connect errors and 5xx responses since the last success.
	ConsecutiveFailures int `json:"consecutiveFailures"`
	// HealthScore is a moving average of the endpoint's outcomes (1 success, 0 failure; the newest
	// weighs 0.3): 1 is healthy. See HTTPBackendConfig.EjectBelowHealth.
	HealthScore float64 `json:"healthScore"`
}

// HealthReporter is implemented by backends that report the health of their endpoints.
type HealthReporter interface {
	Health() []EndpointHealth
}

// Health reports the passive-health state of each endpoint. It only reads atomics.
func (b *HTTPBackend) Health() []EndpointHealth {
	if b.proxy == nil {
		return nil
	}
	hs := b.proxy.Health()
	out := make([]EndpointHealth, len(hs))
	for i, h := range hs {
		out[i] = EndpointHealth{Endpoint: h.Endpoint.String(), Healthy: h.Healthy, InFlight: h.InFlight, ConsecutiveFailures: int(h.Fails), HealthScore: h.Score}
	}
	return out
}

// Available reports whether some endpoint takes traffic, that is, not every one is ejected by passive
// health checking. A route that splits traffic over several backends sends none to a backend that
// reports false while another takes traffic.
func (b *HTTPBackend) Available() bool {
	return b.proxy == nil || b.proxy.Available()
}
