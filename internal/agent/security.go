package agent

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/policy"
	"github.com/vigil-dev/vigil/internal/proc"
	"github.com/vigil-dev/vigil/internal/sensors/file"
	"github.com/vigil-dev/vigil/internal/sensors/network"
	"github.com/vigil-dev/vigil/internal/sensors/privilege"
)

// SecurityOptions configure the rule engine and the security sensors.
type SecurityOptions struct {
	// Program is the compiled rules; nil: no rules.
	Program *policy.Program
	// EmitAll lists kinds whose every event is wanted (vigil trace --kind
	// open), matched by a rule or not. Without it a security event only
	// shows as the alert it raises.
	EmitAll []event.Kind

	// checkMask, in tests, sees every finished event with the rule mask
	// the kernel computed for it.
	checkMask func(ev *event.Event, mask uint64, flags uint8)
}

// securityPipeline turns the records of the file, network and privilege
// sensors into events, evaluates them against the rules and raises
// alerts. It runs on the agent's pipeline goroutine and is not safe for
// concurrent use.
type securityPipeline struct {
	prog         *policy.Program
	table        *proc.Table
	clock        bpfrt.Clock
	emit         func(*event.Event)
	emitAll      map[event.Kind]bool
	maxAncestors int
	checkMask    func(*event.Event, uint64, uint8)
	alerts       *alertMetrics

	// Reused for every record: sinks must not keep events.
	file      file.Record
	network   network.Record
	privilege privilege.Record
}

func newSecurityPipeline(o *SecurityOptions, table *proc.Table, clock bpfrt.Clock, maxAncestors int, emit func(*event.Event)) *securityPipeline {
	s := &securityPipeline{
		prog:         o.Program,
		table:        table,
		clock:        clock,
		emit:         emit,
		emitAll:      map[event.Kind]bool{},
		maxAncestors: maxAncestors,
		alerts:       newAlertMetrics(o.Program),
		checkMask:    o.checkMask,
	}
	for _, k := range o.EmitAll {
		s.emitAll[k] = true
	}
	return s
}

// record handles one security record; records of other types are not its
// business (ok false).
func (s *securityPipeline) record(raw []byte) (ok bool, err error) {
	var (
		ev    *event.Event
		rules uint64
		flags uint8
	)
	switch raw[0] {
	case bpfpolicy.RecordFile:
		r := &s.file
		if err := file.Decode(raw, s.clock, r); err != nil {
			return true, err
		}
		ev, rules, flags = &r.Event, r.Rules, r.Flags
	case bpfpolicy.RecordNet:
		r := &s.network
		if err := network.Decode(raw, s.clock, r); err != nil {
			return true, err
		}
		ev, rules, flags = &r.Event, r.Rules, r.Flags
	case bpfpolicy.RecordPriv:
		r := &s.privilege
		if err := privilege.Decode(raw, s.clock, r); err != nil {
			return true, err
		}
		ev, rules, flags = &r.Event, r.Rules, r.Flags
	default:
		return false, nil
	}
	// The process as it is now: the table has seen its exec, whose record
	// came earlier in the same ring.
	s.table.Fill(&ev.Process)
	if s.emitAll[ev.Kind] {
		ev.Ancestors = s.table.Ancestors(ev.Process.PID, s.maxAncestors)
		s.emit(ev)
	}
	s.alert(ev, rules, flags)
	return true, nil
}

// alert raises an alert for every rule ev matches: those the kernel
// matched (mask), confirmed by the checks only userspace can make. When
// the kernel could not decide (it did not know the process, or could not
// read a path), its part is done here too, from the process table.
func (s *securityPipeline) alert(ev *event.Event, mask uint64, flags uint8) {
	if s.prog == nil {
		return
	}
	undecided := flags&(bpfpolicy.FlagProcUnknown|bpfpolicy.FlagInexact) != 0
	if mask == 0 && !undecided && s.checkMask == nil {
		return
	}
	if ev.Ancestors == nil {
		ev.Ancestors = s.table.Ancestors(ev.Process.PID, s.maxAncestors)
	}
	if s.checkMask != nil {
		s.checkMask(ev, mask, flags)
	}
	if undecided {
		mask = s.prog.KernelMask(ev)
	}
	for _, r := range s.prog.Evaluate(ev, mask) {
		a := s.prog.NewAlert(ev, r)
		a.Alert.Action = taken(r.Action, flags)
		s.alerts.count(r.Name, r.Severity, a.Alert.Action)
		s.emit(a)
	}
}

// taken is what vigil did about a rule's match: its action when the
// kernel carried it out, else only the alert.
func taken(action string, flags uint8) string {
	switch {
	case action == event.ActionKill && flags&bpfpolicy.FlagKilled != 0:
		return event.ActionKill
	case action == event.ActionDeny && flags&bpfpolicy.FlagDenied != 0:
		return event.ActionDeny
	}
	return event.ActionAlert
}

// alertKey labels one vigil_alerts_total series.
type alertKey struct{ rule, severity, action string }

// alertMetrics counts alerts by rule, severity and action. Rules are few
// (the kernel takes 64), so the label sets are bounded.
type alertMetrics struct {
	mu       sync.Mutex
	counts   map[alertKey]uint64
	prog     *policy.Program
	desc     *prometheus.Desc
	condDesc *prometheus.Desc
}

func newAlertMetrics(prog *policy.Program) *alertMetrics {
	return &alertMetrics{
		counts: map[alertKey]uint64{},
		prog:   prog,
		desc: prometheus.NewDesc("vigil_alerts_total",
			"Alerts raised, by rule, severity and the action taken (alert, kill, deny).",
			[]string{"rule", "severity", "action"}, nil),
		condDesc: prometheus.NewDesc("vigil_rule_condition_errors_total",
			"Rule conditions that failed to evaluate (counted as no match).", nil, nil),
	}
}

func (m *alertMetrics) count(rule, severity, action string) {
	m.mu.Lock()
	m.counts[alertKey{rule, severity, action}]++
	m.mu.Unlock()
}

func (m *alertMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.desc
	ch <- m.condDesc
}

func (m *alertMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.prog != nil {
		ch <- prometheus.MustNewConstMetric(m.condDesc, prometheus.CounterValue, float64(m.prog.ConditionErrors()))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, n := range m.counts {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(n), k.rule, k.severity, k.action)
	}
}

// securitySensors are the sensors the policy needs, loaded into the
// process sensor's ring.
type securitySensors struct {
	file      *file.Sensor
	network   *network.Sensor
	privilege *privilege.Sensor
}

func (a *Agent) startSecurity(kp *bpfpolicy.Kernel) error {
	ring := a.process.Coll.Maps["events"]
	var err error
	if len(file.Wanted(kp)) > 0 {
		a.secSensors.file, err = file.New(file.Options{ExcludeSelf: a.opts.ExcludeSelf, Policy: kp, Ring: ring, Syscalls: a.syscalls})
		if err != nil {
			return err
		}
	}
	if kinds, deny := network.Wanted(kp); len(kinds) > 0 || deny {
		a.secSensors.network, err = network.New(network.Options{ExcludeSelf: a.opts.ExcludeSelf, Policy: kp, Ring: ring, Cgroup2: a.cgroup2, Syscalls: a.syscalls})
		if err != nil {
			return err
		}
	}
	if len(privilege.Wanted(kp)) > 0 {
		a.secSensors.privilege, err = privilege.New(privilege.Options{ExcludeSelf: a.opts.ExcludeSelf, Policy: kp, Ring: ring, Syscalls: a.syscalls})
		if err != nil {
			return err
		}
	}
	for _, s := range a.secSensors.list() {
		for _, h := range s.sensor.Skipped() {
			a.log.Debug("optional hook not available on this kernel or architecture", "sensor", s.name, "hook", h.String())
		}
		a.metrics.lost = append(a.metrics.lost, lostSource{s.name, s.sensor.Lost})
	}
	// Processes that started before the sensors: their standing with the
	// rules, as their exec would have decided it.
	var seeds []bpfpolicy.Seed
	for _, p := range a.table.Processes() {
		parent, ok := a.table.Lookup(p.PPID)
		seeds = append(seeds, bpfpolicy.Seed{PID: p.PID, Exe: p.Exe, ParentExe: parent.Exe, ParentKnown: ok})
	}
	if err := kp.SeedProcesses(seeds); err != nil {
		a.log.Warn("recording the rules' view of existing processes was incomplete", "error", err)
	}
	return nil
}

type namedSensor struct {
	name   string
	sensor *bpfrt.Sensor
}

func (s *securitySensors) list() []namedSensor {
	var out []namedSensor
	if s.file != nil {
		out = append(out, namedSensor{file.Source, s.file.Sensor})
	}
	if s.network != nil {
		out = append(out, namedSensor{network.Source, s.network.Sensor})
	}
	if s.privilege != nil {
		out = append(out, namedSensor{privilege.Source, s.privilege.Sensor})
	}
	return out
}
