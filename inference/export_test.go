package inference

// DynamicBackends counts a pool's passthrough backends.
func DynamicBackends(p *Pool) int {
	p.dynMu.Lock()
	defer p.dynMu.Unlock()
	return len(p.dynamic)
}
