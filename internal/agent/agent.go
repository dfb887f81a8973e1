// Package agent wires sensors, enrichment and sinks together. Everything is
// explicit here: New says which rings and sensors run; pipeline (in
// pipeline.go) says, in one function, what happens to each record type
// from the kernel to the sinks; Run is a generic loop that reads every
// ring and hands each record to its handler.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
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
	"github.com/vigil-dev/vigil/internal/route"
	"github.com/vigil-dev/vigil/internal/selector"
	"github.com/vigil-dev/vigil/internal/selfmetrics"
	"github.com/vigil-dev/vigil/internal/sensors/file"
	"github.com/vigil-dev/vigil/internal/sensors/network"
	"github.com/vigil-dev/vigil/internal/sensors/privilege"
	"github.com/vigil-dev/vigil/internal/sensors/process"
	"github.com/vigil-dev/vigil/internal/sensors/sockdata"
	"github.com/vigil-dev/vigil/internal/version"
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
	// ProcessRing sizes the ring the process and security sensors write
	// into (default 8 MiB, about 40k exec records, and 4096 records
	// queued in userspace).
	ProcessRing RingOptions
	// HTTP configures HTTP observability; nil disables it.
	HTTP *HTTPOptions
	// Security configures the rules and the security sensors; nil
	// disables them.
	Security *SecurityOptions
	// Sinks receive every event.
	Sinks []Sink
	// SelfMetrics is where the agent's components add their vigil_
	// metrics; the caller may add its own (a sink's drop counter). Nil:
	// the agent makes one. Collectors returns it.
	SelfMetrics *selfmetrics.Set
	// MaxAncestors bounds the lineage attached to exec events (default 16).
	MaxAncestors int
	// ShutdownTimeout bounds how long Run detaches and drains after ctx
	// ends (default 1.5s, so SIGTERM exits within 2s).
	ShutdownTimeout time.Duration
}

// RingOptions size a ring buffer and its userspace queue; zero fields take
// the ring's defaults.
type RingOptions struct {
	Bytes    uint32 // a power of two, at least a page
	QueueLen int    // records buffered in userspace
}

func (o RingOptions) orDefault(bytes uint32, queueLen int) RingOptions {
	if o.Bytes == 0 {
		o.Bytes = bytes
	}
	if o.QueueLen == 0 {
		o.QueueLen = queueLen
	}
	return o
}

// HTTPOptions configure HTTP observability.
type HTTPOptions struct {
	Sensor sockdata.Options
	// Ring sizes the sensor's ring (default 16 MiB, 8192 records).
	Ring RingOptions
	// Metrics configures the RED metrics.
	Metrics metrics.HTTPOptions
	// Routes names routes by configured patterns before collapsing the
	// rest; nil: collapse only.
	Routes *route.Matcher
	// MaxConns bounds the connections assembled in userspace.
	MaxConns int
	// HeaderBytes bounds the partial header blocks buffered for all
	// connections together (default DefaultHeaderBudget).
	HeaderBytes int
	// Selector chooses what is instrumented; nil: everything.
	Selector *selector.Selector
}

// Agent is a running set of sensors feeding sinks.
type Agent struct {
	opts    Options
	log     *slog.Logger
	clock   bpfrt.Clock
	cgroup2 string
	table   *proc.Table
	self    *selfmetrics.Set
	// selfTGID is the agent's process as the kernel knows it
	// (bpfrt.SelfTGID), given to every sensor; nodeProc says whether
	// /proc numbers processes as the kernel does (it is the node's, not
	// a pid namespace's), so that what it says may go into kernel maps.
	selfTGID uint32
	nodeProc bool

	// The kernel side: the rings records arrive through, and every
	// sensor, in the order they were started. The sensors of one ring
	// share its order.
	rings    []*bpfrt.Ring
	sensors  []*bpfrt.Sensor
	syscalls *bpfrt.Syscalls   // the syscall exit dispatcher of the HTTP and security sensors
	policy   *bpfpolicy.Kernel // the rules in the kernel, nil without rules
	process  *process.Sensor
	sock     *sockdata.Sensor
	file     *bpfrt.Sensor
	network  *bpfrt.Sensor
	priv     *bpfrt.Sensor

	// The pipeline's stages (pipeline.go); nil when off.
	records  recordTable
	http     *httpStage
	sel      *httpSelection
	sec      *securityStage
	httpM    *metrics.HTTP
	graph    *metrics.ServiceGraph
	sinks    []Sink // the RED metrics and the service graph, then the caller's
	events   map[event.Kind]*atomic.Uint64
	sweepers []func(now uint64)

	ready atomic.Bool
}

// New prepares the kernel side (memlock; the sensors mount tracefs), seeds
// the process table from /proc and loads and attaches the sensors, then
// wires the pipeline. Close releases everything. It is NewContext with a
// context that never ends.
func New(opts Options) (*Agent, error) {
	return NewContext(context.Background(), opts)
}

// NewContext is New, given up when ctx ends: the start takes seconds (the
// verifier checks each security sensor's programs), and SIGTERM must not
// wait for it. It then returns ctx's error at once. The start stops at its
// next step and releases what it loaded; the kernel cannot be interrupted
// while it verifies a program, so the sensor being loaded then is released
// when its load returns, a few seconds later, or by the process's exit.
func NewContext(ctx context.Context, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxAncestors == 0 {
		opts.MaxAncestors = 16
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 1500 * time.Millisecond
	}
	if opts.SelfMetrics == nil {
		opts.SelfMetrics = selfmetrics.New(opts.Logger)
	}
	a := &Agent{opts: opts, log: opts.Logger, clock: bpfrt.NewClock(), self: opts.SelfMetrics}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("agent start: %w", context.Cause(ctx))
	}
	started := make(chan error, 1)
	go func() { started <- a.start(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			a.Close()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("agent start: %w", context.Cause(ctx))
			}
			return nil, err
		}
	case <-ctx.Done():
		// From here on only this goroutine touches a.
		go func() {
			<-started
			a.Close()
		}()
		return nil, fmt.Errorf("agent start: %w", context.Cause(ctx))
	}
	if err := a.pipeline(); err != nil {
		a.Close()
		return nil, err
	}
	a.self.Add(buildInfo, func() uint64 { return 1 }, version.Version, version.Commit(), runtime.Version())
	return a, nil
}

var buildInfo = selfmetrics.NewGauge("vigil_build_info",
	"Build information; the value is always 1.", "version", "commit", "goversion")

// start brings up the kernel side: the rings, then every sensor the
// options ask for. It stops between steps once ctx ends. On error the
// caller closes what was started.
func (a *Agent) start(ctx context.Context) error {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("raise RLIMIT_MEMLOCK: %w", err)
	}
	cg2, err := kernel.Cgroup2Path()
	if err != nil {
		a.log.Warn("no cgroup v2 mount found; cgroup ids of seeded processes stay unknown", "error", err)
	}
	a.cgroup2 = cg2
	// In a container os.Getpid() is a pid of the container's namespace,
	// which names another process of the node in the kernel.
	if a.selfTGID, err = bpfrt.SelfTGID(); err != nil {
		return err
	}
	a.nodeProc = a.procIsNodes()
	a.table = proc.NewTable(proc.TableOptions{Cgroup2Root: cg2})
	a.table.Register(a.self)

	// The process sensor's ring also carries the security sensors'
	// records, so that an event follows the exec it belongs to.
	lifecycle, err := a.ring(process.Source, a.opts.ProcessRing.orDefault(8<<20, 4096))
	if err != nil {
		return err
	}
	if s := a.opts.Security; s != nil {
		if a.policy, err = bpfpolicy.New(s.Program, s.EmitAll); err != nil {
			return err
		}
	}
	// The security and HTTP sensors' syscall exits share one dispatcher.
	if a.opts.Security != nil || a.opts.HTTP != nil {
		if a.syscalls, err = bpfrt.NewSyscalls(); err != nil {
			return err
		}
		a.syscalls.Register(a.self)
	}
	// Attach first, seed second: a process that starts in between is then
	// seen by both, never by neither.
	a.process, err = process.New(process.Options{ExcludeSelf: a.opts.ExcludeSelf, Self: a.selfTGID, Ring: lifecycle, Policy: a.policy})
	if err != nil {
		return err
	}
	a.started(a.process.Sensor)
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.nodeProc {
		if err := a.table.Seed(); err != nil {
			a.log.Warn("seeding the process table from /proc was incomplete", "error", err)
		}
	}
	if a.policy != nil {
		if err := a.startSecurity(ctx, lifecycle); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if h := a.opts.HTTP; h != nil {
		ring, err := a.ring(sockdata.Source, h.Ring.orDefault(16<<20, 8192))
		if err != nil {
			return err
		}
		sel := h.Selector
		if sel == nil {
			sel, _ = selector.New(selector.Rules{}, selector.Rules{}) // cannot fail
		}
		o := h.Sensor
		o.ExcludeSelf, o.Self, o.Ring, o.Syscalls, o.SelectOnly = a.opts.ExcludeSelf, a.selfTGID, ring, a.syscalls, sel.SelectOnly()
		if a.sock, err = sockdata.New(o); err != nil {
			return err
		}
		a.started(a.sock.Sensor)
		a.sock.Register(a.self)
		var self uint32 // the agent's pid in /proc, where connections are seeded from
		if a.opts.ExcludeSelf {
			self = a.selfTGID
		}
		if a.sel, err = startSelection(a.sock, sel, a.table, a.cgroup2, self, a.nodeProc, a.log); err != nil {
			return err
		}
	}
	return nil
}

// ring makes a ring buffer that sensors write into, read by Run.
func (a *Agent) ring(name string, o RingOptions) (*bpfrt.Ring, error) {
	r, err := bpfrt.NewRing(name, o.Bytes, o.QueueLen)
	if err != nil {
		return nil, err
	}
	a.rings = append(a.rings, r)
	r.Register(a.self)
	return r, nil
}

// procIsNodes reports whether /proc is the node's: whether it numbers
// this process as the kernel does. A /proc mounted in a pid namespace of
// vigil's own numbers processes otherwise, so its pids must not go into
// kernel maps, where another process of the node has that number (a rule
// standing seeded under it could have that process killed): nothing is
// seeded from it then, and the user is told.
func (a *Agent) procIsNodes() bool {
	pid, err := proc.SelfPID("")
	if err != nil {
		a.log.Warn("no /proc: processes and connections that exist before vigil starts are not seeded", "error", err)
		return false
	}
	if pid != a.selfTGID {
		a.log.Warn("/proc is a pid namespace's, not the node's: processes and connections that exist before vigil starts are not seeded, "+
			"and events of processes vigil has not seen exec are not enriched from it; run vigil in the host's pid namespace "+
			"(Kubernetes: hostPID: true; docker: --pid=host)", "pid_in_proc", pid, "pid_in_kernel", a.selfTGID)
		return false
	}
	return true
}

// started notes a running sensor: it is detached and closed with the agent.
func (a *Agent) started(s *bpfrt.Sensor) {
	a.sensors = append(a.sensors, s)
	s.Register(a.self)
	for _, h := range s.Skipped() {
		a.log.Debug("optional hook not available on this kernel or architecture", "sensor", s.Name(), "hook", h.String())
	}
}

// startSecurity starts the sensors the policy needs, writing into ring,
// and records the rules' view of the processes that ran before them.
func (a *Agent) startSecurity(ctx context.Context, ring *bpfrt.Ring) error {
	opts := bpfpolicy.SensorOptions{ExcludeSelf: a.opts.ExcludeSelf, Self: a.selfTGID, Policy: a.policy, Ring: ring, Syscalls: a.syscalls, Cgroup2: a.cgroup2}
	for _, s := range []struct {
		into **bpfrt.Sensor
		spec func(bpfpolicy.SensorOptions) (bpfrt.SensorSpec, bool, error)
	}{
		{&a.file, file.Spec},
		{&a.network, network.Spec},
		{&a.priv, privilege.Spec},
	} {
		spec, wanted, err := s.spec(opts)
		if err != nil {
			return err
		}
		if !wanted {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if *s.into, err = bpfrt.StartSensor(spec); err != nil {
			return err
		}
		a.started(*s.into)
	}
	// Processes that started before the sensors: their standing with the
	// rules, as their exec would have decided it.
	if !a.nodeProc {
		return nil // the table holds nothing from /proc (procIsNodes)
	}
	var seeds []bpfpolicy.Seed
	for _, p := range a.table.Processes() {
		parent, ok := a.table.Lookup(p.PPID)
		seeds = append(seeds, bpfpolicy.Seed{PID: p.PID, Exe: p.Exe, ParentExe: parent.Exe, ParentKnown: ok})
	}
	if err := a.policy.SeedProcesses(seeds); err != nil {
		a.log.Warn("recording the rules' view of existing processes was incomplete", "error", err)
	}
	return nil
}

// Collectors export the agent's metrics: its own, and the RED metrics,
// the service graph and the alert counts when those are on.
func (a *Agent) Collectors() []prometheus.Collector {
	cs := []prometheus.Collector{a.self}
	if a.httpM != nil {
		cs = append(cs, a.httpM, a.graph)
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
	// Every ring delivers into one channel, with room for all of their
	// batches, so a reader never waits on it; each ring's order is kept.
	n := 0
	for _, r := range a.rings {
		n += r.Queue().Batches()
	}
	batches := make(chan *bpfrt.Batch, n)
	readErr := make(chan error, len(a.rings))
	for _, r := range a.rings {
		// Readers get their own context: at shutdown they must keep
		// reading until the rings are drained, not stop at once.
		go func() { readErr <- r.Queue().Run(context.Background(), batches) }()
	}
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	a.ready.Store(true)
	defer a.ready.Store(false)
	defer a.flushSinks()
	defer a.http.flushAll() // before the sinks are flushed

	var (
		done     = ctx.Done()
		deadline <-chan time.Time
		open     = len(a.rings)
		errs     []error
	)
	for open > 0 {
		if len(batches) == 0 {
			a.flushSinks()
		}
		select {
		case b := <-batches:
			a.consume(b)
		case err := <-readErr:
			open--
			errs = append(errs, err)
		case <-sweep.C:
			now := bpfrt.BootNow()
			for _, s := range a.sweepers {
				s(now)
			}
		case <-done:
			done = nil
			deadline = time.After(a.opts.ShutdownTimeout)
			// Detaching takes a while (an RCU grace period per tracepoint);
			// records keep being consumed meanwhile so no ring fills up.
			go a.detachAndDrain()
		case <-deadline:
			a.log.Warn("shutdown timeout: records still queued are not delivered")
			for _, r := range a.rings {
				r.Queue().Close()
			}
			return errors.Join(errs...)
		}
	}
	// Every reader sent its last batch before it returned.
	for len(batches) > 0 {
		a.consume(<-batches)
	}
	return errors.Join(errs...)
}

// consume hands every record of a batch to its handler, then returns the
// batch to its ring.
func (a *Agent) consume(b *bpfrt.Batch) {
	for _, r := range b.Records {
		a.records.handle(r.Bytes())
	}
	b.Release()
}

// detachAndDrain stops the kernel side, then asks every reader to deliver
// what is left in its ring and stop.
func (a *Agent) detachAndDrain() {
	start := time.Now()
	defer func() { a.log.Debug("detached and drained", "took", time.Since(start)) }()
	var wg sync.WaitGroup
	for _, s := range a.sensors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Detach(); err != nil {
				a.log.Warn("detaching sensor", "sensor", s.Name(), "error", err)
			}
		}()
	}
	wg.Wait()
	for _, r := range a.rings {
		if err := r.Queue().Drain(); err != nil {
			a.log.Warn("draining records", "source", r.Name(), "error", err)
			r.Queue().Close()
		}
	}
}

func (a *Agent) flushSinks() {
	for _, s := range a.sinks {
		if f, ok := s.(Flusher); ok {
			f.Flush()
		}
	}
}

// Close detaches and unloads every kernel object of the agent.
func (a *Agent) Close() error {
	start := time.Now()
	defer func() { a.log.Debug("kernel objects released", "took", time.Since(start)) }()
	var err error
	for i := len(a.sensors) - 1; i >= 0; i-- {
		err = errors.Join(err, a.sensors[i].Close())
	}
	a.sensors = nil
	for _, r := range a.rings {
		err = errors.Join(err, r.Close())
	}
	a.rings = nil
	err = errors.Join(err, a.syscalls.Close())
	a.syscalls = nil
	if a.policy != nil {
		a.policy.Close()
		a.policy = nil
	}
	return err
}
