// Package agent wires sensors, enrichment and sinks together. Everything is
// explicit here: which sensors run, in what order records are enriched, and
// which sinks receive events.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/kernel"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/proc"
	"github.com/vigil-dev/vigil/internal/selector"
	"github.com/vigil-dev/vigil/internal/sensors/process"
	"github.com/vigil-dev/vigil/internal/sensors/sockdata"
)

// Sink receives every event, in order, from the pipeline goroutine. It must
// not block for long (the bounded queues upstream absorb bursts) and must
// not keep ev or anything it points to after returning: the record behind
// it is reused.
type Sink interface {
	Handle(ev *event.Event)
}

// Flusher is a sink that buffers: Flush is called whenever the pipeline has
// no record at hand, and when it stops.
type Flusher interface {
	Flush()
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
	// HTTP configures HTTP observability; nil disables it.
	HTTP *HTTPOptions
	// Security configures the rules and the security sensors; nil
	// disables them.
	Security *SecurityOptions
	// Sinks receive every event.
	Sinks []Sink
	// DropCounters are more vigil_events_dropped_total stages: what the
	// caller's sinks drop (a full alert queue), by stage name.
	DropCounters map[string]func() uint64
	// MaxAncestors bounds the lineage attached to exec events (default 16).
	MaxAncestors int
	// ShutdownTimeout bounds how long Run detaches and drains after ctx
	// ends (default 1.5s, so SIGTERM exits within 2s).
	ShutdownTimeout time.Duration
}

// HTTPOptions configure HTTP observability.
type HTTPOptions struct {
	Sensor sockdata.Options
	// Metrics configures the RED metrics.
	Metrics metrics.HTTPOptions
	// MaxConns bounds the connections assembled in userspace.
	MaxConns int
	// Selector chooses what is instrumented; nil: everything.
	Selector *selector.Selector
}

// Agent is a running set of sensors feeding sinks.
type Agent struct {
	opts    Options
	log     *slog.Logger
	table   *proc.Table
	process *process.Sensor
	sock    *sockdata.Sensor
	sel     *selector.Selector
	http    *httpPipeline
	httpM   *metrics.HTTP
	// The syscall exit dispatcher of the HTTP and security sensors.
	syscalls *bpfrt.Syscalls
	// The rule policy in the kernel, the security sensors and the stage
	// that turns their records into events and alerts.
	policy     *bpfpolicy.Kernel
	secSensors securitySensors
	sec        *securityPipeline
	clock      bpfrt.Clock
	cgroup2    string
	metrics    *selfMetrics
	ready      atomic.Bool
}

// New prepares the kernel side (memlock; the sensors mount tracefs), seeds
// the process table from /proc and loads and attaches the sensors. Close releases everything.
func New(opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxAncestors == 0 {
		opts.MaxAncestors = 16
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 1500 * time.Millisecond
	}
	a := &Agent{opts: opts, log: opts.Logger, clock: bpfrt.NewClock()}
	a.metrics = newSelfMetrics(a.log)
	a.metrics.dropCounters = opts.DropCounters

	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK: %w", err)
	}
	cg2, err := kernel.Cgroup2Path()
	if err != nil {
		a.log.Warn("no cgroup v2 mount found; cgroup ids of seeded processes stay unknown", "error", err)
	}

	a.cgroup2 = cg2
	a.table = proc.NewTable(proc.TableOptions{Cgroup2Root: cg2})
	if s := opts.Security; s != nil {
		a.policy, err = bpfpolicy.New(s.Program, s.EmitAll)
		if err != nil {
			return nil, err
		}
		opts.Process.Policy = a.policy
		a.sec = newSecurityPipeline(s, a.table, a.clock, opts.MaxAncestors, a.fanOut)
	}
	// The security and HTTP sensors' syscall exits share one dispatcher.
	if opts.Security != nil || opts.HTTP != nil {
		if a.syscalls, err = bpfrt.NewSyscalls(); err != nil {
			a.closePolicy()
			return nil, err
		}
		a.metrics.compatExits = a.syscalls.CompatExits
	}
	// Attach first, seed second: a process that starts in between is then
	// seen by both, never by neither.
	a.process, err = process.New(opts.Process)
	if err != nil {
		a.Close()
		return nil, err
	}
	if err := a.table.Seed(); err != nil {
		a.log.Warn("seeding the process table from /proc was incomplete", "error", err)
	}
	a.metrics.queues = append(a.metrics.queues, a.process.Queue())
	a.metrics.procLen = a.table.Len
	if a.policy != nil {
		if err := a.startSecurity(a.policy); err != nil {
			a.Close()
			return nil, err
		}
	}

	if opts.HTTP != nil {
		if err := a.startHTTP(*opts.HTTP); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

func (a *Agent) closePolicy() {
	if a.policy != nil {
		a.policy.Close()
	}
}

func (a *Agent) startHTTP(o HTTPOptions) error {
	if o.MaxConns <= 0 {
		o.MaxConns = 65536
	}
	if o.Selector == nil {
		o.Selector, _ = selector.New(selector.Rules{}, selector.Rules{}) // cannot fail
	}
	o.Sensor.ExcludeSelf = a.opts.ExcludeSelf
	o.Sensor.SelectOnly = o.Selector.SelectOnly()
	o.Sensor.Syscalls = a.syscalls
	var err error
	a.sock, err = sockdata.New(o.Sensor)
	if err != nil {
		return err
	}
	a.sel = o.Selector
	ports := a.sel.Ports()
	for port, bits := range ports {
		if err := a.sock.SetPort(port, uint8(bits)); err != nil {
			return err
		}
	}
	marks := map[uint32]selector.Bits{}
	if a.sel.HasProcessRules() {
		for _, p := range a.table.Processes() {
			marks[p.PID] = a.markProcess(&p)
		}
	}
	self := uint32(os.Getpid())
	n, err := a.sock.Seed("/proc", func(pid uint32, port uint16) bool {
		return !(a.opts.ExcludeSelf && pid == self) && a.sel.Wanted(marks[pid], ports[port])
	})
	if err != nil {
		a.log.Warn("seeding existing connections was incomplete", "error", err)
	}
	a.log.Debug("seeded existing TCP connections", "count", n)
	a.httpM = metrics.NewHTTP(o.Metrics)
	a.http = newHTTPPipeline(a.table, a.clock, a.httpM, o.MaxConns, a.fanOut)
	a.metrics.queues = append(a.metrics.queues, a.sock.Queue())
	a.metrics.http = &a.http.stats
	a.metrics.classified = a.sock.Classified
	return nil
}

// Collectors export the agent's metrics: its own, and the RED metrics
// when HTTP observability is on.
func (a *Agent) Collectors() []prometheus.Collector {
	cs := []prometheus.Collector{a.metrics}
	if a.httpM != nil {
		cs = append(cs, a.httpM, a.http.graph)
	}
	if a.sec != nil {
		cs = append(cs, a.sec.alerts)
	}
	return cs
}

// Table is the agent's process table.
func (a *Agent) Table() *proc.Table { return a.table }

// Ready reports whether Run is consuming events.
func (a *Agent) Ready() bool { return a.ready.Load() }

// Run consumes records until ctx is done, then detaches the programs,
// delivers what the kernel had already written, and returns. The kernel
// objects are released by Close.
func (a *Agent) Run(ctx context.Context) error {
	queues := []*bpfrt.Queue{a.process.Queue()}
	if a.sock != nil {
		queues = append(queues, a.sock.Queue())
	}
	readErr := make(chan error, len(queues))
	for _, q := range queues {
		// Readers get their own context: at shutdown they must keep
		// reading until the rings are drained, not stop at once.
		go func() { readErr <- q.Run(context.Background()) }()
	}

	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	a.ready.Store(true)
	defer a.ready.Store(false)

	var (
		prec     process.Record
		srec     sockdata.Record
		procRecs = a.process.Queue().Batches()
		sockRecs <-chan *bpfrt.Batch
		done     = ctx.Done()
		deadline <-chan time.Time
		open     = len(queues)
		errs     []error
	)
	if a.sock != nil {
		sockRecs = a.sock.Queue().Batches()
	}
	defer a.flushSinks()
	if a.http != nil {
		defer a.http.stitch.FlushAll() // before the sinks are flushed
	}
	for open > 0 {
		if len(procRecs) == 0 && len(sockRecs) == 0 {
			a.flushSinks()
		}
		select {
		case batch, ok := <-procRecs:
			if !ok {
				procRecs = nil
				open--
				errs = append(errs, <-readErr)
				continue
			}
			for _, r := range batch.Records {
				// The security sensors write into this ring too, so
				// that their events follow the exec they belong to.
				if a.sec != nil && len(r.Bytes()) > 0 {
					if ok, err := a.sec.record(r.Bytes()); ok {
						if err != nil {
							a.metrics.decodeErrors.Add(1)
							a.log.Debug("skipping malformed security record", "error", err)
						}
						continue
					}
				}
				if err := process.Decode(r.Bytes(), a.clock, &prec); err != nil {
					a.metrics.decodeErrors.Add(1)
					a.log.Debug("skipping malformed process record", "error", err)
					continue
				}
				a.handleProcess(&prec)
			}
			a.process.Queue().Release(batch)
		case batch, ok := <-sockRecs:
			if !ok {
				sockRecs = nil
				open--
				errs = append(errs, <-readErr)
				continue
			}
			for _, r := range batch.Records {
				if err := sockdata.Decode(r.Bytes(), &srec); err != nil {
					a.metrics.decodeErrors.Add(1)
					a.log.Debug("skipping malformed sockdata record", "error", err)
					continue
				}
				a.http.handle(&srec) // srec.Data aliases r: released below
			}
			a.sock.Queue().Release(batch)
		case <-sweep.C:
			now := bpfrt.BootNow()
			a.table.Sweep(now)
			if a.http != nil {
				a.http.sweep(now)
			}
		case <-done:
			done = nil
			deadline = time.After(a.opts.ShutdownTimeout)
			// Detaching takes a while (an RCU grace period per tracepoint);
			// records keep being consumed meanwhile so no ring fills up.
			go a.detachAndDrain(queues)
		case <-deadline:
			a.log.Warn("shutdown timeout: records still queued are not delivered")
			for _, q := range queues {
				q.Close()
			}
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// detachAndDrain stops the kernel side, then asks every reader to deliver
// what is left in its ring and stop.
func (a *Agent) detachAndDrain(queues []*bpfrt.Queue) {
	start := time.Now()
	defer func() { a.log.Debug("detached and drained", "took", time.Since(start)) }()
	var wg sync.WaitGroup
	for _, s := range a.sensors() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Detach(); err != nil {
				a.log.Warn("detaching sensor", "error", err)
			}
		}()
	}
	wg.Wait()
	for _, q := range queues {
		if err := q.Drain(); err != nil {
			a.log.Warn("draining records", "source", q.Source(), "error", err)
			q.Close()
		}
	}
}

// markProcess applies the HTTP selection to process p in the kernel and
// returns its marks.
func (a *Agent) markProcess(p *event.Process) selector.Bits {
	cgroupPath := ""
	if a.sel.NeedsCgroupPath() && a.cgroup2 != "" && p.CgroupID != 0 {
		cgroupPath, _ = proc.CgroupPathByID(a.cgroup2, p.CgroupID)
	}
	bits := a.sel.Process(p, cgroupPath)
	if err := a.sock.SetProcess(p.PID, uint8(bits)); err != nil {
		a.log.Warn("marking process for HTTP selection", "pid", p.PID, "error", err)
	}
	return bits
}

func (a *Agent) flushSinks() {
	for _, s := range a.opts.Sinks {
		if f, ok := s.(Flusher); ok {
			f.Flush()
		}
	}
}

// sensors lists the running sensors.
func (a *Agent) sensors() []interface{ Detach() error } {
	ss := []interface{ Detach() error }{a.process}
	if a.sock != nil {
		ss = append(ss, a.sock)
	}
	for _, s := range a.secSensors.list() {
		ss = append(ss, s.sensor)
	}
	return ss
}

// fanOut counts ev and hands it to every sink.
func (a *Agent) fanOut(ev *event.Event) {
	a.metrics.countEvent(ev.Kind)
	for _, s := range a.opts.Sinks {
		s.Handle(ev)
	}
}

// handleProcess keeps the process table in step with the kernel, enriches
// the event from it and fans it out.
func (a *Agent) handleProcess(rec *process.Record) {
	ev := &rec.Event
	p := &ev.Process
	switch ev.Kind {
	case event.KindExec:
		if rec.ExeTruncated {
			// The kernel's walk stopped short of the root: /proc has the
			// whole path, and the rules left the executable to us.
			if exe, err := os.Readlink(filepath.Join(proc.DefaultProcRoot, strconv.FormatUint(uint64(p.PID), 10), "exe")); err == nil {
				p.Exe = exe
			}
		}
		a.table.ExecInCgroup(*p, rec.StartNs, rec.CgroupV1ID)
		a.table.Fill(p)
		ev.Ancestors = a.table.Ancestors(p.PID, a.opts.MaxAncestors)
		if a.sel != nil && a.sel.HasProcessRules() {
			a.markProcess(p)
		}
	case event.KindFork:
		a.table.Fill(p)
		a.table.Fork(p.PID, ev.Fork.ChildPID, rec.StartNs)
		if a.sel != nil && a.sel.HasProcessRules() {
			if child, ok := a.table.Lookup(ev.Fork.ChildPID); ok {
				a.markProcess(&child) // a forked worker is what its parent was
			}
		}
	case event.KindExit:
		a.table.Fill(p)
		a.table.Exit(p.PID, bpfrt.BootNow())
		if a.sel != nil && a.sel.HasProcessRules() {
			if err := a.sock.SetProcess(p.PID, 0); err != nil {
				a.log.Debug("unmarking exited process", "error", err)
			}
		}
	}
	a.fanOut(ev)
	if ev.Kind == event.KindExec && a.sec != nil {
		a.sec.alert(ev, rec.Rules, rec.SecFlags)
	}
	if ev.Kind == event.KindExit && a.http != nil {
		// The kernel closed the process's sockets without close(2).
		a.http.processExited(p.PID, rec.StartNs+ev.Exit.DurationNs)
	}
}

// Close detaches and unloads every kernel object of the agent.
func (a *Agent) Close() error {
	start := time.Now()
	defer func() { a.log.Debug("kernel objects released", "took", time.Since(start)) }()
	var err error
	for _, s := range a.secSensors.list() {
		err = errors.Join(err, s.sensor.Close())
	}
	if a.process != nil {
		err = errors.Join(err, a.process.Close())
	}
	if a.sock != nil {
		err = errors.Join(err, a.sock.Close())
	}
	err = errors.Join(err, a.syscalls.Close())
	a.closePolicy()
	return err
}
