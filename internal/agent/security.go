package agent

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/policy"
	"github.com/vigil-dev/vigil/internal/proc"
	"github.com/vigil-dev/vigil/internal/sensors/process"
)

// SecurityOptions configure the rule engine and the security sensors.
type SecurityOptions struct {
	// Program is the compiled rules; nil: no rules.
	Program *policy.Program
	// EmitAll lists kinds whose every event is wanted (vigil trace --kind
	// open), matched by a rule or not. Without it a security event only
	// shows as the alert it raises.
	EmitAll []event.Kind
}

// securityStage turns the events of the file, network and privilege
// sensors, and exec events, into alerts for the rules they match, and
// hands on the events of the kinds wanted whole. It runs on the agent's
// pipeline goroutine and is not safe for concurrent use.
type securityStage struct {
	prog         *policy.Program
	table        *proc.Table
	emit         func(*event.Event)
	emitAll      map[event.Kind]bool
	maxAncestors int
	alerts       *alertMetrics

	// checkMask, set by tests, sees every finished event with the rule
	// mask the kernel computed for it.
	checkMask func(ev *event.Event, mask uint64, flags uint8)
}

func newSecurityStage(o *SecurityOptions, table *proc.Table, maxAncestors int, emit func(*event.Event)) *securityStage {
	s := &securityStage{
		prog:         o.Program,
		table:        table,
		emit:         emit,
		emitAll:      map[event.Kind]bool{},
		maxAncestors: maxAncestors,
		alerts:       newAlertMetrics(o.Program),
	}
	for _, k := range o.EmitAll {
		s.emitAll[k] = true
	}
	return s
}

// event handles one event of a security sensor, with what the kernel
// decided about it.
func (s *securityStage) event(ev *event.Event, v bpfpolicy.Verdict) {
	// The process as it is now: the table has seen its exec, whose record
	// came earlier in the same ring.
	s.table.Fill(&ev.Process)
	if s.emitAll[ev.Kind] {
		ev.Ancestors = s.table.Ancestors(ev.Process.PID, s.maxAncestors)
		s.emit(ev)
	}
	s.alert(ev, v.Rules, v.Flags)
}

// exec raises the alerts of the exec rules the kernel matched. Other
// records, and a nil stage, do nothing.
func (s *securityStage) exec(rec *process.Record) {
	if s == nil || rec.Event.Kind != event.KindExec {
		return
	}
	s.alert(&rec.Event, rec.Rules, rec.SecFlags)
}

// alert raises an alert for every rule ev matches: those the kernel
// matched (mask), confirmed by the checks only userspace can make. When
// the kernel could not decide (it did not know the process, or could not
// read a path), its part is done here too, from the process table.
func (s *securityStage) alert(ev *event.Event, mask uint64, flags uint8) {
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
			"Rule conditions that failed to evaluate (counted as no match), by rule.", []string{"rule"}, nil),
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
		for i, r := range m.prog.Rules {
			if r.Condition != "" {
				ch <- prometheus.MustNewConstMetric(m.condDesc, prometheus.CounterValue, float64(m.prog.RuleConditionErrors(i)), r.Name)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, n := range m.counts {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(n), k.rule, k.severity, k.action)
	}
}
