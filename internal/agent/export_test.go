package agent

// What the external tests (package agent_test, which share their helpers
// with the sensors' tests through internal/agenttest) reach inside the
// agent for.

import (
	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/proc"
)

// SetCheckMask has the security stage of a, before it runs, call f with
// every finished event and the rule mask and flags the kernel gave it.
func SetCheckMask(a *Agent, f func(ev *event.Event, mask uint64, flags uint8)) {
	a.sec.checkMask = f
}

// Sensors returns the security sensors a started (nil: not started).
func Sensors(a *Agent) (file, network, priv *bpfrt.Sensor) {
	return a.file, a.network, a.priv
}

// PolicyMaps returns the maps of the rules in the kernel.
func PolicyMaps(a *Agent) map[string]*ebpf.Map {
	return a.policy.Maps()
}

// SecurityAlert returns the alert step of a security stage of its own,
// over table, whose alerts go to emit.
func SecurityAlert(o *SecurityOptions, table *proc.Table, maxAncestors int, emit func(*event.Event)) func(ev *event.Event, mask uint64, flags uint8) {
	return newSecurityStage(o, table, maxAncestors, emit).alert
}
