package xds

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// ClientOptions tunes [NewClient].
type ClientOptions struct {
	// Node identifies this data plane to the control plane (its Id is required; the server logs it
	// with every NACK).
	Node *corev3.Node
	// AuthToken is sent on the stream as `authorization: Bearer <token>` when set.
	AuthToken string
	// TLS configures https:// addresses (nil: the system roots).
	TLS *tls.Config
	// Logger receives connection and update reports (default slog.Default()).
	Logger *slog.Logger
	// Drain is how long a replaced Runtime stays open for the requests still using it (default 30s).
	Drain time.Duration
	// MinBackoff and MaxBackoff bound the wait before reconnecting (defaults 250ms and 30s); each wait
	// is drawn at random between half and all of the current bound (jitter), which doubles after each
	// failed attempt and resets once a stream delivered a response.
	MinBackoff, MaxBackoff time.Duration
	// Settle is how long a response whose config does not build waits for the responses that may
	// complete it before it is NACKed (default 1s; see [Client]). A change's parts normally arrive within
	// milliseconds, but a type's next response waits for the ACK of its last, which can take longer
	// on a busy machine; a NACK that comes too early is logged by the control plane for nothing.
	Settle time.Duration
	// Dir is the directory relative file names in the config resolve against (default ".").
	Dir string
	// MCPPins is the pin file of MCP backends that name none (config.File.SetMCPPins).
	MCPPins string
	// Lookup expands $VAR in string values, as for a config file (default os.LookupEnv).
	Lookup func(string) (string, bool)
	// Settings and Frontend are the process's `config` and `frontendPolicies` (from its local file):
	// every config built from the control plane's resources gets them (the MCP session key above
	// all, which replicas share so that each continues the others' sessions).
	Settings *config.Settings
	Frontend *config.FrontendPolicies
}

// Client is a data plane's xDS client: it subscribes to every resource type over Delta ADS,
// compiles the resources it holds into a config after each response (config.Load and Build, as for a
// file) and hands the Runtime to its apply function (typically Gateway.Apply). A response whose
// config does not build or apply is NACKed with the error (after waiting [ClientOptions.Settle] for the
// rest of a change that spans several resource types), and the last good config keeps serving; the
// next response is compiled with it, so a later fix applies. The stream reconnects with
// exponential back-off and jitter until Run's context is cancelled.
type Client struct {
	addr  string
	opts  ClientOptions
	apply func(*config.Runtime) error
	conn  *grpc.ClientConn

	// Stream state, used by Run's goroutine only.
	received map[string]map[string]named  // what the server sent, by type and name
	versions map[string]map[string]string // their versions, sent back when reconnecting
	synced   map[string]bool              // types whose first response arrived on some stream
	applied  []byte                       // the document being served
	rejected []byte                       // the last document that failed, and why
	rejErr   string

	ready     chan struct{}
	readyOnce sync.Once

	mu       sync.Mutex
	file     *config.File
	rt       *config.Runtime
	retiring map[*config.Runtime]*time.Timer
	closed   bool
}

// NewClient makes a client of the control plane at addr: "host:port" or "http://host:port" for
// plaintext, "https://host:port" for TLS. It does not connect until [Client.Run].
func NewClient(addr string, opts ClientOptions, apply func(*config.Runtime) error) (*Client, error) {
	if opts.Node.GetId() == "" {
		return nil, errors.New("xds: ClientOptions.Node.Id is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Drain <= 0 {
		opts.Drain = 30 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.Settle <= 0 {
		opts.Settle = time.Second
	}
	if opts.Lookup == nil {
		opts.Lookup = os.LookupEnv
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	target, creds := addr, insecure.NewCredentials()
	if u, err := url.Parse(addr); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		target = u.Host
		if u.Scheme == "https" {
			creds = credentials.NewTLS(opts.TLS)
		}
	}
	if target == "" || strings.Contains(target, "/") {
		return nil, fmt.Errorf("xds: address %q: want host:port, http://host:port or https://host:port", addr)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	c := &Client{addr: addr, opts: opts, apply: apply, conn: conn,
		received: map[string]map[string]named{}, versions: map[string]map[string]string{}, synced: map[string]bool{},
		ready: make(chan struct{}), retiring: map[*config.Runtime]*time.Timer{}}
	for _, t := range TypeURLs {
		c.received[t], c.versions[t] = map[string]named{}, map[string]string{}
	}
	return c, nil
}

// Ready is closed once the first config from the control plane has been applied.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// File returns the config being served (nil before the first one applied).
func (c *Client) File() *config.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.file
}

// Run keeps a stream to the control plane until ctx is cancelled, reconnecting with back-off.
func (c *Client) Run(ctx context.Context) {
	bound := c.opts.MinBackoff
	for {
		got, err := c.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if got {
			bound = c.opts.MinBackoff
		}
		wait := bound/2 + rand.N(bound/2+1)
		c.opts.Logger.Warn("xds: stream to the control plane ended; reconnecting", "address", c.addr, "error", err, "retry_in", wait)
		bound = min(2*bound, c.opts.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stream runs one ADS stream until it fails; got reports whether a response arrived on it.
func (c *Client) stream(ctx context.Context) (got bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.opts.AuthToken != "" {
		sctx = metadata.AppendToOutgoingContext(sctx, "authorization", "Bearer "+c.opts.AuthToken)
	}
	st, err := discovery.NewAggregatedDiscoveryServiceClient(c.conn).DeltaAggregatedResources(sctx)
	if err != nil {
		return false, err
	}
	for i, t := range TypeURLs {
		req := &discovery.DeltaDiscoveryRequest{TypeUrl: t, ResourceNamesSubscribe: []string{"*"},
			InitialResourceVersions: c.versions[t]}
		if i == 0 {
			req.Node = c.opts.Node
		}
		if err := st.Send(req); err != nil {
			return false, err
		}
	}
	// Recv runs on its own goroutine so that a verdict can wait for the responses that follow.
	type received struct {
		resp *discovery.DeltaDiscoveryResponse
		err  error
	}
	recv := make(chan received)
	go func() {
		for {
			resp, err := st.Recv()
			select {
			case recv <- received{resp, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	verdict := func(nonces []*discovery.DeltaDiscoveryResponse, nack string) error {
		for _, r := range nonces {
			req := &discovery.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}
			if nack != "" {
				req.ErrorDetail = &status.Status{Code: 3 /* INVALID_ARGUMENT */, Message: nack}
			}
			if err := st.Send(req); err != nil {
				return err
			}
		}
		return nil
	}
	// held are the responses whose config did not build yet, waiting out the settle time: one change
	// reaches a client as a response per type, and the server sends a type's next response only after
	// the client answered its last, so the parts of a change (a route and the backend it no longer
	// needs) can arrive out of order. The verdict on them all is given when the resources build, or
	// as a NACK once no response fixed them within the settle time.
	var held []*discovery.DeltaDiscoveryResponse
	var heldErr string
	var settle <-chan time.Time
	for {
		var r received
		select {
		case <-sctx.Done():
			return got, sctx.Err()
		case r = <-recv:
		case <-settle:
			c.opts.Logger.Error("xds: update rejected; still serving the last good config", "error", heldErr)
			if err := verdict(held, heldErr); err != nil {
				return got, err
			}
			held, heldErr, settle = nil, "", nil
			continue
		}
		if r.err != nil {
			return got, r.err
		}
		resp := r.resp
		if !got {
			c.opts.Logger.Info("xds: connected to the control plane", "address", c.addr)
		}
		got = true
		if err := c.take(resp); err != nil {
			// A malformed response is rejected on its own, at once.
			c.opts.Logger.Error("xds: response rejected", "type", resp.GetTypeUrl(), "error", err)
			if err := verdict([]*discovery.DeltaDiscoveryResponse{resp}, err.Error()); err != nil {
				return got, err
			}
			continue
		}
		held = append(held, resp)
		err := c.compile()
		switch {
		case err == nil:
			if err := verdict(held, ""); err != nil {
				return got, err
			}
			held, heldErr, settle = nil, "", nil
		default:
			heldErr = err.Error()
			if settle == nil {
				settle = time.After(c.opts.Settle)
			}
		}
	}
}

// take decodes one response into the received state. It returns an error, changing nothing, when
// the response is malformed.
func (c *Client) take(resp *discovery.DeltaDiscoveryResponse) error {
	t := resp.GetTypeUrl()
	if _, ok := c.received[t]; !ok {
		return fmt.Errorf("%w: unknown type %s", ErrInvalidResource, t)
	}
	// Decode everything before changing anything: a malformed response is rejected whole.
	updates := make(map[string]named, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		m, err := decodeResource(t, r.GetName(), r.GetResource())
		if err != nil {
			return err
		}
		updates[r.GetName()] = m
	}
	// The server counts what it sent as held by this client whether it is accepted or not, and will
	// not send it again; so the received state follows the server, and a rejected config is retried
	// with the next response (a fix, or the rest of a change that came in several responses).
	for name, m := range updates {
		c.received[t][name] = m
	}
	for _, r := range resp.GetResources() {
		c.versions[t][r.GetName()] = r.GetVersion()
	}
	for _, name := range resp.GetRemovedResources() {
		delete(c.received[t], name)
		delete(c.versions[t], name)
	}
	c.synced[t] = true
	return nil
}

// compile builds the received resources and applies them when they differ from what is served
// (nothing before every type's first response arrived: the initial state is not complete).
func (c *Client) compile() error {
	for _, t := range TypeURLs {
		if !c.synced[t] {
			return nil
		}
	}
	doc, loc, err := fromIndex(c.received).Document()
	if err == nil && bytes.Equal(doc, c.applied) {
		return nil
	}
	if err == nil && bytes.Equal(doc, c.rejected) {
		return errors.New(c.rejErr)
	}
	retry := false
	if err == nil {
		retry, err = c.build(doc)
	}
	if err != nil {
		msg := loc.Locate(err.Error())
		c.rejected, c.rejErr = doc, msg
		if retry {
			c.rejected = nil
		}
		return errors.New(msg)
	}
	c.applied, c.rejected, c.rejErr = doc, nil, ""
	c.opts.Logger.Info("xds: config applied")
	c.readyOnce.Do(func() { close(c.ready) })
	return nil
}

// build compiles and applies doc; retry reports an apply error that is not the config's fault (a
// port in use), so that the same document is tried again with the next response.
func (c *Client) build(doc []byte) (retry bool, err error) {
	f, err := config.Load(doc, c.opts.Lookup)
	if err != nil {
		return false, err
	}
	f.SetDir(c.opts.Dir)
	f.SetMCPPins(c.opts.MCPPins)
	if c.opts.Settings != nil {
		f.Settings = *c.opts.Settings
	}
	if c.opts.Frontend != nil {
		f.Frontend = *c.opts.Frontend
	}
	rt, err := f.Build(c.opts.Logger)
	if err != nil {
		return false, err
	}
	if err := c.apply(rt); err != nil {
		_ = rt.Close()
		return !errors.Is(err, agentgateway.ErrInvalidConfig), err
	}
	c.mu.Lock()
	old := c.rt
	c.file, c.rt = f, rt
	c.retire(old)
	c.mu.Unlock()
	return false, nil
}

// retire closes a replaced Runtime once the requests that may still use it have drained (c.mu held).
func (c *Client) retire(rt *config.Runtime) {
	if rt == nil || c.closed {
		return
	}
	c.retiring[rt] = time.AfterFunc(c.opts.Drain, func() {
		c.mu.Lock()
		_, mine := c.retiring[rt]
		delete(c.retiring, rt)
		c.mu.Unlock()
		if mine {
			_ = rt.Close()
		}
	})
}

// Close closes the connection and releases the current Runtime and those still draining. Call it
// after Run returned and the Gateway stopped serving.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	errs := []error{c.conn.Close()}
	for rt, t := range c.retiring {
		t.Stop()
		errs = append(errs, rt.Close())
	}
	clear(c.retiring)
	if c.rt != nil {
		errs = append(errs, c.rt.Close())
	}
	return errors.Join(errs...)
}
