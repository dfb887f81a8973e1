package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/route"
	"github.com/vigil-dev/vigil/internal/selfmetrics"
	"github.com/vigil-dev/vigil/internal/sensors/file"
	"github.com/vigil-dev/vigil/internal/sensors/network"
	"github.com/vigil-dev/vigil/internal/sensors/privilege"
	"github.com/vigil-dev/vigil/internal/sensors/process"
	"github.com/vigil-dev/vigil/internal/sensors/sockdata"
)

// pipeline wires what happens to every record, from the kernel to the
// sinks. It is the one place to read how an event is made:
//
//		ring -> record table (type byte) -> decode -> enrich -> rules / assembly -> sinks
//
//	  - process lifecycle (exec, fork, exit): the process table follows the
//	    kernel and enriches the event (lineage, container, service); the HTTP
//	    selection marks the process in the kernel; sinks; exec rules raise
//	    alerts; an exit ends the connections the process never closed.
//	  - security events (file, network, privilege): enriched from the table
//	    (whose exec record came earlier through the same ring); sinks, for
//	    the kinds wanted whole; the rules raise alerts, which go to the sinks.
//	  - socket data: assembled into HTTP exchanges, given trace context, then
//	    held by the stitcher (a second) to join node-local call chains; then
//	    enriched from the table (which has caught up with the process by
//	    then), routed, and handed to the sinks.
//
// Sinks are, in order: the RED metrics and the service graph (when HTTP is
// on), then the caller's. All of it runs on Run's goroutine.
func (a *Agent) pipeline() error {
	a.records.log = a.log
	a.records.dropped = a.counter(selfmetrics.Dropped, "decode")
	a.events = make(map[event.Kind]*atomic.Uint64, len(event.AllKinds))
	for _, k := range event.AllKinds {
		a.events[k] = a.counter(eventsTotal, string(k))
	}
	if h := a.opts.HTTP; h != nil {
		a.httpM = metrics.NewHTTP(h.Metrics)
		a.graph = metrics.NewServiceGraph(0)
		a.sinks = append(a.sinks, a.httpM, a.graph)
	}
	a.sinks = append(a.sinks, a.opts.Sinks...)
	a.sweepers = append(a.sweepers, func(now uint64) { a.table.Sweep(now) })

	if s := a.opts.Security; s != nil {
		a.sec = newSecurityStage(s, a.table, a.opts.MaxAncestors, a.fanOut)
		if s.Program != nil {
			s.Program.OnConditionError = func(rule string, err error) {
				a.log.Warn("a rule's condition failed to evaluate: it counts as no match (vigil_rule_condition_errors_total); only the first error of each rule is logged", "rule", rule, "error", err)
			}
		}
	}
	on(&a.records, a.process.Sensor, clocked(a.clock, process.Decode), func(r *process.Record) {
		a.trackProcess(r)
		a.sel.follow(r)
		a.fanOut(&r.Event)
		a.sec.exec(r)
		a.http.processExited(r)
	})
	on(&a.records, a.file, clocked(a.clock, file.Decode), func(r *file.Record) { a.sec.event(&r.Event, r.Verdict) })
	on(&a.records, a.network, clocked(a.clock, network.Decode), func(r *network.Record) { a.sec.event(&r.Event, r.Verdict) })
	on(&a.records, a.priv, clocked(a.clock, privilege.Decode), func(r *privilege.Record) { a.sec.event(&r.Event, r.Verdict) })

	if h := a.opts.HTTP; h != nil {
		routes := route.NewResolver(h.Routes, metrics.DefaultMaxSeries)
		a.http = newHTTPStage(a.table, a.clock, h.MaxConns, h.HeaderBytes, func(ev *event.Event) {
			a.http.enrich(ev)
			routes.Resolve(ev)
			a.fanOut(ev)
		})
		a.http.register(a.self)
		on(&a.records, a.sock.Sensor, sockdata.Decode, a.http.handle)
		a.sweepers = append(a.sweepers, a.http.sweep)
	}
	return a.records.err
}

// eventsTotal counts what fanOut hands the sinks.
var eventsTotal = selfmetrics.NewCounter("vigil_events_total", "Events emitted by vigil, by kind.", "kind")

// counter adds a counter series of f to the agent's metrics.
func (a *Agent) counter(f *selfmetrics.Family, labels ...string) *atomic.Uint64 {
	c := new(atomic.Uint64)
	a.self.Add(f, c.Load, labels...)
	return c
}

// fanOut counts ev and hands it to every sink.
func (a *Agent) fanOut(ev *event.Event) {
	if c := a.events[ev.Kind]; c != nil {
		c.Add(1)
	}
	for _, s := range a.sinks {
		s.Handle(ev)
	}
}

// clocked binds a decoder that turns kernel timestamps into times to the
// agent's clock, once.
func clocked[R any](clock bpfrt.Clock, decode func([]byte, bpfrt.Clock, *R) error) func([]byte, *R) error {
	return func(raw []byte, r *R) error { return decode(raw, clock, r) }
}

// recordTable routes each record, by its type byte, to the decoder and
// handler of the sensor that declared the type. It is built once, in
// pipeline, and read on Run's goroutine only.
type recordTable struct {
	handlers [256]func(raw []byte) error
	owners   [256]string    // the sensor that declared each type
	dropped  *atomic.Uint64 // records of no known type, or malformed
	log      *slog.Logger
	err      error // two sensors declared one type
}

// on routes the records sensor s declares (none when s is nil: the sensor
// is not running) through decode into handle. One record is decoded into
// and reused for every record: handlers and sinks must not keep it.
func on[R any](t *recordTable, s *bpfrt.Sensor, decode func([]byte, *R) error, handle func(*R)) {
	if s == nil {
		return
	}
	var rec R
	h := func(raw []byte) error {
		if err := decode(raw, &rec); err != nil {
			return err
		}
		handle(&rec)
		return nil
	}
	for _, rt := range s.Records() {
		if owner := t.owners[rt]; owner != "" {
			t.err = errors.Join(t.err, fmt.Errorf("record type %s is declared by sensors %s and %s", rt, owner, s.Name()))
			continue
		}
		t.owners[rt] = s.Name()
		t.handlers[rt] = h
	}
}

// handle decodes and handles one record; what cannot be is counted as
// dropped at the decode stage.
func (t *recordTable) handle(raw []byte) {
	if len(raw) == 0 {
		t.dropped.Add(1)
		return
	}
	h := t.handlers[raw[0]]
	if h == nil {
		t.dropped.Add(1)
		return
	}
	if err := h(raw); err != nil {
		t.dropped.Add(1)
		t.log.Debug("skipping malformed record", "sensor", t.owners[raw[0]], "error", err)
	}
}
