package proxy

// EndpointHealth is an endpoint's passive-health state, for admin pages.
type EndpointHealth struct {
	Endpoint Endpoint
	// Healthy is false while the endpoint is ejected.
	Healthy bool
	// InFlight counts the requests it is serving; Fails its consecutive connect errors or 5xx.
	InFlight int64
	Fails    int32
	// Score is the health score: a moving average of outcomes, 1 healthy .. 0 failing.
	Score float64
}

// Health reports the state of every endpoint. It only reads: an ejection that has run out shows as
// healthy but is ended by the next pick, as on the request path.
func (p *Proxy) Health() []EndpointHealth {
	now := p.bal.clock()
	eps := p.bal.endpoints()
	out := make([]EndpointHealth, len(eps))
	for i, e := range eps {
		u := e.ejectedUntil.Load()
		out[i] = EndpointHealth{Endpoint: e.Endpoint, Healthy: u == 0 || now >= u, InFlight: e.inflight.Load(), Fails: e.fails.Load(), Score: e.score()}
	}
	return out
}
