package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/traces"
	"github.com/vigil-dev/vigil/internal/version"
)

// OTLPTraceOptions configure the OTLP span exporter. Endpoint, headers,
// TLS and timeouts come from the standard OTEL_EXPORTER_OTLP_* variables,
// which the OpenTelemetry clients read themselves.
type OTLPTraceOptions struct {
	// Protocol is "grpc" or "http/protobuf" (the OTel default).
	Protocol string
	// QueueSize bounds the spans waiting to be sent; beyond, new spans are
	// dropped and counted. Default 8192.
	QueueSize int
	// BatchSize is the most spans one export carries. Default 512.
	BatchSize int
	// Interval is how long a span may wait for its batch. Default 1s.
	Interval time.Duration
	// Timeout bounds one batch's export, retries included (the OTel
	// OTEL_EXPORTER_OTLP_TIMEOUT semantics). Default 10s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// OTLPTraceEnabled reports whether the environment asks for trace export:
// an OTLP endpoint is set and OTEL_TRACES_EXPORTER is not "none".
func OTLPTraceEnabled(lookup func(string) (string, bool)) bool {
	if v, _ := lookup("OTEL_TRACES_EXPORTER"); strings.EqualFold(strings.TrimSpace(v), "none") {
		return false
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}

// Signals, as the per-signal OTEL_EXPORTER_OTLP_<SIGNAL>_* variables name
// them.
const (
	SignalTraces  = "TRACES"
	SignalMetrics = "METRICS"
)

// OTLPProtocol returns the protocol OTEL_EXPORTER_OTLP_PROTOCOL, or the
// signal's own OTEL_EXPORTER_OTLP_<signal>_PROTOCOL, asks for;
// "http/protobuf" by default.
func OTLPProtocol(lookup func(string) (string, bool), signal string) (string, error) {
	p := "http/protobuf"
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL"} {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			p = strings.TrimSpace(v)
		}
	}
	switch p {
	case "grpc", "http/protobuf":
		return p, nil
	}
	return "", fmt.Errorf("OTLP protocol %q: vigil supports grpc and http/protobuf", p)
}

// OTLPTimeout returns the per-batch export timeout the
// OTEL_EXPORTER_OTLP_TRACES_TIMEOUT or OTEL_EXPORTER_OTLP_TIMEOUT variable
// sets (milliseconds), or 0 when neither does.
func OTLPTimeout(lookup func(string) (string, bool)) (time.Duration, error) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"} {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			ms, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || ms <= 0 {
				return 0, fmt.Errorf("%s=%q: want a positive number of milliseconds", k, v)
			}
			return time.Duration(ms) * time.Millisecond, nil
		}
	}
	return 0, nil
}

// OTLPTraces is a sink that sends the spans of http events over OTLP. The
// pipeline never waits for it: spans go into a bounded queue, a goroutine
// batches them, and what does not fit is dropped and counted.
type OTLPTraces struct {
	opts   OTLPTraceOptions
	client otlptrace.Client
	host   string
	queue  chan queued
	done   chan struct{}
	once   sync.Once

	Exported, Dropped, Failed atomic.Uint64
}

type queued struct {
	res  traces.ResourceKey
	span *tracepb.Span
}

// NewOTLPTraces starts an exporter; Close flushes and stops it.
func NewOTLPTraces(ctx context.Context, opts OTLPTraceOptions) (*OTLPTraces, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 8192
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 512
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var client otlptrace.Client
	switch opts.Protocol {
	case "grpc":
		client = otlptracegrpc.NewClient()
	case "http/protobuf", "":
		client = otlptracehttp.NewClient()
	default:
		return nil, fmt.Errorf("OTLP protocol %q: vigil supports grpc and http/protobuf", opts.Protocol)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start OTLP trace client: %w", err)
	}
	e := &OTLPTraces{
		opts:   opts,
		client: client,
		host:   traces.HostName(),
		queue:  make(chan queued, opts.QueueSize),
		done:   make(chan struct{}),
	}
	go e.run()
	return e, nil
}

// Handle queues the span of an http event; other events are ignored.
func (e *OTLPTraces) Handle(ev *event.Event) {
	if ev.Kind != event.KindHTTP {
		return
	}
	s := traces.FromHTTP(ev)
	if s == nil {
		return
	}
	select {
	case e.queue <- queued{traces.KeyOf(&ev.Process), s}:
	default:
		e.Dropped.Add(1)
	}
}

func (e *OTLPTraces) run() {
	defer close(e.done)
	tick := time.NewTicker(e.opts.Interval)
	defer tick.Stop()
	batch := make([]queued, 0, e.opts.BatchSize)
	for {
		select {
		case q, ok := <-e.queue:
			if !ok {
				e.export(batch)
				return
			}
			batch = append(batch, q)
			if len(batch) >= e.opts.BatchSize {
				e.export(batch)
				batch = batch[:0]
			}
		case <-tick.C:
			e.export(batch)
			batch = batch[:0]
		}
	}
}

// export sends one batch, grouped by resource. The client retries with
// backoff within its timeout (OTEL_EXPORTER_OTLP_TIMEOUT); a batch that
// still fails is counted and dropped, so a dead receiver costs memory
// bounded by the queue and never blocks the pipeline.
func (e *OTLPTraces) export(batch []queued) {
	if len(batch) == 0 {
		return
	}
	byRes := map[traces.ResourceKey][]*tracepb.Span{}
	var order []traces.ResourceKey
	for _, q := range batch {
		if _, ok := byRes[q.res]; !ok {
			order = append(order, q.res)
		}
		byRes[q.res] = append(byRes[q.res], q.span)
	}
	rs := make([]*tracepb.ResourceSpans, 0, len(order))
	for _, k := range order {
		rs = append(rs, &tracepb.ResourceSpans{
			Resource: traces.Resource(k, e.host),
			ScopeSpans: []*tracepb.ScopeSpans{{
				Scope: &commonpb.InstrumentationScope{Name: "vigil", Version: version.Version},
				Spans: byRes[k],
			}},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.Timeout)
	defer cancel()
	if err := e.client.UploadTraces(ctx, rs); err != nil {
		e.Failed.Add(uint64(len(batch)))
		e.opts.Logger.Warn("OTLP trace export failed", "spans", len(batch), "error", err)
		return
	}
	e.Exported.Add(uint64(len(batch)))
}

// Close sends what is queued and stops the client, within ctx.
func (e *OTLPTraces) Close(ctx context.Context) error {
	var err error
	e.once.Do(func() {
		close(e.queue)
		select {
		case <-e.done:
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("OTLP traces: pending spans not sent: %w", ctx.Err()))
		}
		err = errors.Join(err, e.client.Stop(ctx))
	})
	return err
}

var spansDesc = prometheus.NewDesc("vigil_otlp_spans_total",
	"Spans handed to the OTLP exporter, by outcome: exported, dropped (queue full), failed (export failed after retries).",
	[]string{"outcome"}, nil)

// Describe implements prometheus.Collector.
func (e *OTLPTraces) Describe(ch chan<- *prometheus.Desc) { ch <- spansDesc }

// Collect implements prometheus.Collector.
func (e *OTLPTraces) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(spansDesc, prometheus.CounterValue, float64(e.Exported.Load()), "exported")
	ch <- prometheus.MustNewConstMetric(spansDesc, prometheus.CounterValue, float64(e.Dropped.Load()), "dropped")
	ch <- prometheus.MustNewConstMetric(spansDesc, prometheus.CounterValue, float64(e.Failed.Load()), "failed")
}
