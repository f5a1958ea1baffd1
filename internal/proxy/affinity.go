package proxy

import (
	"math"
)

// HashKey hashes a session-affinity key; the result is never 0 (0 means "no affinity").
func HashKey(key []byte) uint64 {
	h := fnv64(key)
	if h == 0 {
		h = 1
	}
	return h
}

// HashString is HashKey for a string.
func HashString(s string) uint64 { return fnv64([]byte(s)) }

// fnv64 is FNV-1a: stable across processes and versions, unlike maphash with a random seed.
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix is splitmix64's finaliser: it spreads the bits of (key, id) into a uniform 64-bit value.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// RendezvousScore is -ln(u) for a uniform u in (0, 1) drawn from (key, id): divided by a weight, the
// lowest score over the candidates is a weighted rendezvous (highest random weight) choice.
func RendezvousScore(key, id uint64) float64 {
	u := (float64(mix(key^mix(id))>>11) + 0.5) / (1 << 53)
	return -math.Log(u)
}

// pickAffinity picks the healthy endpoint (other than exclude) with the lowest rendezvous score for
// key; with none healthy it falls back to the ordinary choice.
func (b *balancer) pickAffinity(key uint64, exclude *endpoint) (*endpoint, bool) {
	now := b.clock()
	var best *endpoint
	bestScore := math.Inf(1)
	for _, e := range b.endpoints() {
		if e == exclude || !b.healthy(e, now) {
			continue
		}
		if s := RendezvousScore(key, e.id); s < bestScore {
			best, bestScore = e, s
		}
	}
	if best == nil {
		return b.pick(exclude)
	}
	return best, true
}
