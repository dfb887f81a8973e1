// Package agent wires sensors, enrichment and sinks together. Everything is
// explicit here: which sensors run, in what order records are enriched, and
// which sinks receive events.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/kernel"
	"github.com/vigil-dev/vigil/internal/proc"
	"github.com/vigil-dev/vigil/internal/sensors/process"
)

// Sink receives every event, in order, from the pipeline goroutine. It must
// not block for long (the bounded queues upstream absorb bursts) and must
// not keep ev or anything it points to after returning: the record behind
// it is reused.
type Sink interface {
	Handle(ev *event.Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ev *event.Event)

// Handle calls f(ev).
func (f SinkFunc) Handle(ev *event.Event) { f(ev) }

// Options configure an Agent.
type Options struct {
	Logger *slog.Logger
	// ExcludeSelf drops the agent's own process events in the kernel.
	ExcludeSelf bool
	// Process configures the process sensor.
	Process process.Options
	// Sinks receive every event.
	Sinks []Sink
	// MaxAncestors bounds the lineage attached to exec events (default 16).
	MaxAncestors int
	// ShutdownTimeout bounds how long Run drains records after ctx ends
	// (default 1s, so SIGTERM exits well within 2s).
	ShutdownTimeout time.Duration
}

// Agent is a running set of sensors feeding sinks.
type Agent struct {
	opts    Options
	log     *slog.Logger
	table   *proc.Table
	process *process.Sensor
	clock   bpfrt.Clock
	metrics *selfMetrics
	ready   atomic.Bool
}

// New prepares the kernel side (mounts, memlock), seeds the process table
// from /proc and loads and attaches the sensors. Close releases everything.
func New(opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxAncestors == 0 {
		opts.MaxAncestors = 16
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = time.Second
	}
	a := &Agent{opts: opts, log: opts.Logger, clock: bpfrt.NewClock()}
	a.metrics = newSelfMetrics(a.log)

	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK: %w", err)
	}
	if _, err := kernel.EnsureTracefs(); err != nil {
		return nil, fmt.Errorf("tracefs is needed for tracepoints: %w", err)
	}
	cg2, err := kernel.Cgroup2Path()
	if err != nil {
		a.log.Warn("no cgroup v2 mount found; cgroup ids of seeded processes stay unknown", "error", err)
	}

	a.table = proc.NewTable(proc.TableOptions{Cgroup2Root: cg2})
	// Attach first, seed second: a process that starts in between is then
	// seen by both, never by neither.
	a.process, err = process.New(opts.Process)
	if err != nil {
		return nil, err
	}
	if err := a.table.Seed(); err != nil {
		a.log.Warn("seeding the process table from /proc was incomplete", "error", err)
	}
	a.metrics.queues = append(a.metrics.queues, a.process.Queue())
	a.metrics.procLen = a.table.Len
	return a, nil
}

// Collector exports the agent's self-metrics.
func (a *Agent) Collector() prometheus.Collector { return a.metrics }

// Table is the agent's process table.
func (a *Agent) Table() *proc.Table { return a.table }

// Ready reports whether Run is consuming events.
func (a *Agent) Ready() bool { return a.ready.Load() }

// Run consumes records until ctx is done, then detaches the programs,
// delivers what the kernel had already written, and returns. The kernel
// objects are released by Close.
func (a *Agent) Run(ctx context.Context) error {
	q := a.process.Queue()
	readErr := make(chan error, 1)
	// The reader gets its own context: at shutdown it must keep reading
	// until the ring is drained, not stop at once.
	go func() { readErr <- q.Run(context.Background()) }()

	sweep := time.NewTicker(5 * time.Second)
	defer sweep.Stop()
	a.ready.Store(true)
	defer a.ready.Store(false)

	var rec process.Record
	records := q.Records()
	done := ctx.Done()
	var deadline <-chan time.Time
	for {
		select {
		case r, ok := <-records:
			if !ok {
				return <-readErr
			}
			err := process.Decode(r.Bytes(), a.clock, &rec)
			q.Release(r)
			if err != nil {
				a.metrics.decodeErrors.Add(1)
				a.log.Debug("skipping malformed record", "error", err)
				continue
			}
			a.handleProcess(&rec)
		case <-sweep.C:
			a.table.Sweep(bpfrt.BootNow())
		case <-done:
			done = nil
			if err := a.process.Detach(); err != nil {
				a.log.Warn("detaching process sensor", "error", err)
			}
			if err := q.Drain(); err != nil {
				a.log.Warn("draining process records", "error", err)
				return errors.Join(q.Close(), <-readErr)
			}
			deadline = time.After(a.opts.ShutdownTimeout)
		case <-deadline:
			a.log.Warn("shutdown timeout: records still queued are not delivered")
			return errors.Join(q.Close(), <-readErr)
		}
	}
}

// handleProcess keeps the process table in step with the kernel, enriches
// the event from it and fans it out.
func (a *Agent) handleProcess(rec *process.Record) {
	ev := &rec.Event
	p := &ev.Process
	switch ev.Kind {
	case event.KindExec:
		a.table.Exec(*p, rec.StartNs)
		a.table.Fill(p)
		ev.Ancestors = a.table.Ancestors(p.PID, a.opts.MaxAncestors)
	case event.KindFork:
		a.table.Fill(p)
		a.table.Fork(p.PID, ev.Fork.ChildPID, rec.StartNs)
	case event.KindExit:
		a.table.Fill(p)
		a.table.Exit(p.PID, bpfrt.BootNow())
	}
	a.metrics.countEvent(ev.Kind)
	for _, s := range a.opts.Sinks {
		s.Handle(ev)
	}
}

// Close detaches and unloads every kernel object of the agent.
func (a *Agent) Close() error {
	return a.process.Close()
}
