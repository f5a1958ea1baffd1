package proxy

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct{ now int64 }

func (c *fakeClock) read() int64             { return c.now }
func (c *fakeClock) advance(d time.Duration) { c.now += int64(d) }

func newTestBalancer(n int, ejectAfter int32) (*balancer, *fakeClock) {
	clk := &fakeClock{now: 1}
	b := &balancer{ejectAfter: ejectAfter, ejectFor: 10 * time.Second, maxEject: 35 * time.Second, clock: clk.read}
	var eps []*endpoint
	for i := 0; i < n; i++ {
		eps = append(eps, &endpoint{Endpoint: Endpoint{Scheme: "http", Host: string(rune('a' + i))}})
	}
	b.set.Store(&eps)
	return b, clk
}

func TestBalancerPowerOfTwoChoices(t *testing.T) {
	b, _ := newTestBalancer(2, 5)
	b.endpoints()[0].inflight.Store(10)
	// With two endpoints both are always sampled, so the less loaded one must win every time.
	for range 100 {
		e, healthy := b.pick(nil)
		require.True(t, healthy)
		require.Same(t, b.endpoints()[1], e)
	}
	counts := map[*endpoint]int{}
	b3, _ := newTestBalancer(3, 5)
	b3.endpoints()[2].inflight.Store(100)
	for range 300 {
		e, _ := b3.pick(nil)
		counts[e]++
	}
	// The busiest of three is never chosen: one of the other two is always in the sample.
	assert.Zero(t, counts[b3.endpoints()[2]])
	assert.Positive(t, counts[b3.endpoints()[0]])
	assert.Positive(t, counts[b3.endpoints()[1]])
}

func TestBalancerEjection(t *testing.T) {
	b, clk := newTestBalancer(3, 3)
	bad := b.endpoints()[0]
	for i := range 2 {
		require.False(t, b.failure(bad), "failure %d", i)
	}
	b.success(bad, false) // a success resets the count
	for i := range 2 {
		require.False(t, b.failure(bad), "failure %d after reset", i)
	}
	require.True(t, b.failure(bad))
	assert.EqualValues(t, 1, b.ejected.Load())
	for range 100 {
		e, healthy := b.pick(nil)
		require.True(t, healthy)
		require.NotSame(t, bad, e)
	}
	// Excluding one of the two healthy endpoints leaves exactly one choice.
	e, healthy := b.pick(b.endpoints()[1])
	assert.True(t, healthy)
	assert.Same(t, b.endpoints()[2], e)

	clk.advance(10 * time.Second) // the ejection has run out
	seen := false
	for range 200 {
		if e, _ := b.pick(nil); e == bad {
			seen = true
		}
	}
	assert.True(t, seen, "endpoint is back after EjectFor")
	assert.Zero(t, b.ejected.Load())
}

func TestBalancerBackoffDoubles(t *testing.T) {
	b, clk := newTestBalancer(1, 1)
	e := b.endpoints()[0]
	var periods []time.Duration
	for range 4 {
		require.True(t, b.failure(e))
		periods = append(periods, time.Duration(e.ejectedUntil.Load()-clk.now))
		clk.advance(periods[len(periods)-1])
	}
	assert.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second, 35 * time.Second, 35 * time.Second}, periods)
	b.success(e, false)
	require.True(t, b.failure(e))
	assert.Equal(t, 10*time.Second, time.Duration(e.ejectedUntil.Load()-clk.now), "a success resets the back-off")
}

func TestBalancerAllEjected(t *testing.T) {
	b, clk := newTestBalancer(3, 1)
	for _, i := range []int{1, 0, 2} {
		require.True(t, b.failure(b.endpoints()[i]))
		clk.advance(time.Second)
	}
	// Never fail closed: the endpoint ejected longest ago is tried, reported as unhealthy.
	e, healthy := b.pick(nil)
	assert.Same(t, b.endpoints()[1], e)
	assert.False(t, healthy)
	e, healthy = b.pick(b.endpoints()[1])
	assert.Same(t, b.endpoints()[0], e)
	assert.False(t, healthy)

	one, _ := newTestBalancer(1, 1)
	require.True(t, one.failure(one.endpoints()[0]))
	e, healthy = one.pick(nil)
	assert.Same(t, one.endpoints()[0], e)
	assert.False(t, healthy)

	// A success of that last-resort attempt ends the ejection; one in flight at ejection does not.
	b.success(b.endpoints()[0], false)
	assert.EqualValues(t, 3, b.ejected.Load())
	b.success(b.endpoints()[1], true)
	assert.EqualValues(t, 2, b.ejected.Load())
	e, healthy = b.pick(nil)
	assert.Same(t, b.endpoints()[1], e)
	assert.True(t, healthy)
}

func TestBalancerEjectionDisabled(t *testing.T) {
	b, _ := newTestBalancer(2, 0)
	for range 100 {
		assert.False(t, b.failure(b.endpoints()[0]))
	}
	assert.Zero(t, b.ejected.Load())
}

func TestJoinPath(t *testing.T) {
	tests := []struct{ base, p, want string }{
		{"/api", "", "/api"},
		{"/api", "/", "/api/"},
		{"/api", "/x", "/api/x"},
		{"/api", "x", "/api/x"},
		{"/api", "/x/", "/api/x/"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, joinPath(tt.base, tt.p), "%q + %q", tt.base, tt.p)
	}
}

func TestListed(t *testing.T) {
	assert.True(t, listed([]string{"keep-alive, Upgrade"}, "upgrade"))
	assert.True(t, listed([]string{"a", " X-Foo "}, "x-foo"))
	assert.False(t, listed([]string{"x-foobar"}, "x-foo"))
	assert.False(t, listed(nil, "x"))
}

// SetEndpoints keeps the state of endpoints that stay, drops the others' ejections and retires their
// pools, and refuses a change of scheme.
func TestSetEndpoints(t *testing.T) {
	a, b, c := Endpoint{Scheme: "http", Host: "a:1"}, Endpoint{Scheme: "http", Host: "b:1"}, Endpoint{Scheme: "http", Host: "c:1"}
	p := New(Options{Endpoints: []Endpoint{a, b}, Transport: http.DefaultTransport, H1: &H1Options{}, EjectAfter: 1, EjectFor: time.Minute, MaxEjectFor: time.Minute})
	before := p.bal.endpoints()
	before[0].inflight.Store(7)
	require.True(t, p.bal.failure(before[1])) // b ejected
	require.EqualValues(t, 1, p.bal.ejected.Load())

	require.NoError(t, p.SetEndpoints([]Endpoint{a, c}))
	after := p.bal.endpoints()
	require.Same(t, before[0], after[0], "a keeps its load and its pool")
	require.EqualValues(t, 7, after[0].inflight.Load())
	require.Equal(t, c, after[1].Endpoint)
	require.NotNil(t, after[1].h1)
	require.Zero(t, p.bal.ejected.Load(), "b's ejection went with it")
	before[1].h1.mu.Lock()
	require.True(t, before[1].h1.retired, "b's connections close as they come back")
	before[1].h1.mu.Unlock()
	require.Equal(t, []Endpoint{a, c}, p.Endpoints())

	for range 50 {
		e, _ := p.bal.pick(nil)
		require.NotEqual(t, b, e.Endpoint)
	}
	require.ErrorIs(t, p.SetEndpoints(nil), ErrEndpoints)
	require.ErrorIs(t, p.SetEndpoints([]Endpoint{{Scheme: "https", Host: "d:1"}}), ErrEndpoints)
	require.Equal(t, []Endpoint{a, c}, p.Endpoints(), "a refused update changes nothing")
}
