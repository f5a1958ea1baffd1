package mcp

import (
	"bytes"
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	agentgateway "github.com/agentgw/agentgateway"
)

// telemetry is what a federation records under the gateway's providers: a client span and an
// mcp.client.operation.duration point per request to a target, and gauges of its open sessions and
// streams. The server side (mcp.server.operation.duration, the server span) is the gateway's, from
// State.MCP.
type telemetry struct {
	svc    agentgateway.Services
	tracer trace.Tracer
	dur    metric.Float64Histogram
	reg    metric.Registration
}

// Attribute keys (mcp.target is the gateway's own; the others are the semantic conventions').
const (
	attrMethod    = attribute.Key("mcp.method.name")
	attrTarget    = attribute.Key("mcp.target")
	attrTool      = attribute.Key("gen_ai.tool.name")
	attrPrompt    = attribute.Key("gen_ai.prompt.name")
	attrErrorType = attribute.Key("error.type")
)

// provisionTelemetry builds the federation's instruments under s and registers the gauges'
// callback, replacing what an earlier Provision registered.
func (f *Federation) provisionTelemetry(s agentgateway.Services) {
	m := s.Meter(agentgateway.InstrumentationName)
	t := &telemetry{svc: s, tracer: s.Tracer(agentgateway.InstrumentationName)}
	t.dur, _ = m.Float64Histogram("mcp.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the MCP requests the gateway sent to its targets."),
		metric.WithExplicitBucketBoundaries(agentgateway.MCPDurationBuckets()...))
	sessions, err1 := m.Int64ObservableUpDownCounter("agentgateway.mcp.sessions", metric.WithUnit("{session}"),
		metric.WithDescription("Open MCP client sessions."))
	streams, err2 := m.Int64ObservableUpDownCounter("agentgateway.mcp.streams", metric.WithUnit("{stream}"),
		metric.WithDescription("Open MCP server-sent event streams to clients."))
	if err := errors.Join(err1, err2); err == nil {
		// Federations of one process observe the same instruments; the SDK adds their values up.
		t.reg, _ = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			n, st := f.sessions.counts()
			o.ObserveInt64(sessions, n)
			o.ObserveInt64(streams, st)
			return nil
		}, sessions, streams)
	}
	if old := f.tel.Swap(t); old != nil && old.reg != nil {
		_ = old.reg.Unregister()
	}
}

// stopTelemetry unregisters the gauges' callback (Close).
func (f *Federation) stopTelemetry() {
	if t := f.tel.Load(); t != nil && t.reg != nil {
		_ = t.reg.Unregister()
	}
}

// counts returns the number of live sessions and of their open streams.
func (t *sessionTable) counts() (sessions, streams int64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, s := range t.live {
		streams += int64(s.streams.Load())
	}
	return int64(len(t.live)), streams
}

// tracing reports whether the target's requests are traced.
func (t *target) tracing() bool {
	if t.tel == nil {
		return false
	}
	tel := t.tel.Load()
	return tel != nil && tel.svc.Tracing()
}

// callTarget sends a request to the target t over up. The call is measured and, when tracing is on,
// runs in a client span whose context the target receives in params._meta (and, over HTTP, in
// traceparent too).
func callTarget(ctx context.Context, t *target, up upstream, msg []byte, relay func([]byte)) ([]byte, error) {
	return observeCall(ctx, t, msg, func(ctx context.Context, msg []byte) ([]byte, error) { return up.call(ctx, msg, relay) })
}

// observeCall runs do, the sending of msg to t, in a client span and records its duration.
func observeCall(ctx context.Context, t *target, msg []byte, do func(context.Context, []byte) ([]byte, error)) ([]byte, error) {
	var tel *telemetry
	if t.tel != nil {
		tel = t.tel.Load()
	}
	if tel == nil {
		return do(ctx, msg)
	}
	tracing, measuring := tel.svc.Tracing(), tel.dur.Enabled(ctx)
	if !tracing && !measuring {
		return do(ctx, msg)
	}
	env, err := parseEnvelope(msg)
	if err != nil || env.method == "" {
		return do(ctx, msg)
	}
	kv := make([]attribute.KeyValue, 0, 6)
	kv = append(kv, attrMethod.String(env.method), attrTarget.String(t.Name), attribute.String("network.transport", t.network()))
	name := env.method
	switch env.method {
	case "tools/call":
		if n := stringField(msg, env.params, "name"); n != "" {
			kv = append(kv, attrTool.String(n))
			name += " " + n
		}
	case "prompts/get":
		if n := stringField(msg, env.params, "name"); n != "" {
			kv = append(kv, attrPrompt.String(n))
			name += " " + n
		}
	}
	start := time.Now()
	var sp trace.Span
	if tracing {
		ctx, sp = tel.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(kv...))
		defer sp.End()
		msg = injectMeta(ctx, msg)
	}
	resp, err := do(ctx, msg)
	errType, code := "", ""
	switch {
	case err != nil:
		errType = "_OTHER"
		if errors.Is(err, ErrTargetUnavailable) {
			errType = "target_unavailable"
		}
	default:
		if re, perr := parseEnvelope(resp); perr == nil {
			switch {
			case re.err.ok():
				code = string(field(resp, re.err, "code").of(resp))
				errType = code
			case env.method == "tools/call" && string(field(resp, re.result, "isError").of(resp)) == "true":
				errType = "tool_error"
			}
		}
	}
	if errType != "" {
		kv = append(kv, attrErrorType.String(errType))
	}
	if measuring {
		tel.dur.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(kv...))
	}
	if sp != nil {
		if code != "" {
			sp.SetAttributes(attribute.String("rpc.response.status_code", code))
		}
		if errType != "" {
			sp.SetAttributes(attrErrorType.String(errType))
			desc := errType
			if err != nil {
				desc = err.Error()
			}
			sp.SetStatus(codes.Error, desc)
		}
	}
	return resp, err
}

// network is network.transport: pipe for a process or an in-process server, tcp otherwise.
func (t *target) network() string {
	switch t.Transport {
	case TransportStdio, TransportServer:
		return "pipe"
	}
	return "tcp"
}

// injectMeta returns msg with the trace context of ctx in params._meta (traceparent, tracestate),
// as MCP carries it to servers over every transport. Keys already there are replaced; a message
// whose params or _meta is not an object is returned unchanged.
func injectMeta(ctx context.Context, msg []byte) []byte {
	c := propagation.MapCarrier{}
	agentgateway.Propagator.Inject(ctx, c)
	if c["traceparent"] == "" {
		return msg
	}
	for _, k := range [...]string{"traceparent", "tracestate"} {
		if v := c[k]; v != "" {
			msg = setMeta(msg, k, v)
		}
	}
	return msg
}

// setMeta sets params._meta[k] = v in the JSON-RPC message msg, adding params and _meta when they
// are missing. It leaves msg alone when params or _meta is not an object, or msg does not parse.
func setMeta(msg []byte, k, v string) []byte {
	env, err := parseEnvelope(msg)
	if err != nil {
		return msg
	}
	pair := append(append(quoted(k), ':'), quoted(v)...)
	if !env.params.ok() {
		end := bytes.LastIndexByte(msg, '}')
		if end < 0 {
			return msg
		}
		// A request always has members (jsonrpc, method), so params follows a comma.
		ins := append(append([]byte(`,"params":{"_meta":{`), pair...), "}}"...)
		return splice(msg, span{end, end}, ins)
	}
	if msg[env.params.start] != '{' {
		return msg
	}
	meta := field(msg, env.params, "_meta")
	if !meta.ok() {
		ins := append(append(append(quoted("_meta"), ":{"...), pair...), '}')
		if !isEmptyObject(env.params.of(msg)) {
			ins = append(ins, ',')
		}
		at := env.params.start + 1
		return splice(msg, span{at, at}, ins)
	}
	if msg[meta.start] != '{' {
		return msg
	}
	if cur := field(msg, meta, k); cur.ok() {
		return splice(msg, cur, quoted(v))
	}
	if !isEmptyObject(meta.of(msg)) {
		pair = append(pair, ',')
	}
	at := meta.start + 1
	return splice(msg, span{at, at}, pair)
}

// isEmptyObject reports whether the JSON object b has no members.
func isEmptyObject(b []byte) bool {
	return len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}

// OpenSessions reports the federation's live client sessions and their open server-sent event
// streams (the figures of the agentgateway.mcp.sessions and .streams gauges), for status pages.
func (f *Federation) OpenSessions() (sessions, streams int64) { return f.sessions.counts() }
