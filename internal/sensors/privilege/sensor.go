// Package privilege is the privilege sensor: setuid and setgid calls,
// capset, ptrace, kernel module loading, memfd_create and bpf(2), from
// syscall exits, filtered and enforced in the kernel by the rule
// policy.
package privilege

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "privilege"

// Options configure the sensor.
type Options struct {
	// ExcludeSelf drops events of the calling process in the kernel.
	ExcludeSelf bool
	// Policy says which events the kernel lets through and enforces.
	Policy *bpfpolicy.Kernel
	// Ring is the process sensor's ring buffer (see file.Options.Ring).
	Ring *ebpf.Map
	// Syscalls is the agent's syscall dispatcher (nil: the sensor loads
	// its own).
	Syscalls *bpfrt.Syscalls
}

// hooks is the attach table, by the kind of event the hooks report.
func hooks(k event.Kind) []bpfrt.Hook {
	switch k {
	case event.KindSetuid:
		return bpfrt.SyscallExits(bpfrt.StageSecure, false, "setuid", "setreuid", "setresuid", "setfsuid")
	case event.KindSetgid:
		return bpfrt.SyscallExits(bpfrt.StageSecure, false, "setgid", "setregid", "setresgid", "setfsgid")
	case event.KindCapset:
		return bpfrt.SyscallExits(bpfrt.StageSecure, false, "capset")
	case event.KindPtrace:
		return bpfrt.SyscallExits(bpfrt.StageSecure, false, "ptrace")
	case event.KindModule:
		// Kernels built without module support have no such syscalls
		// (and nothing to load).
		return bpfrt.SyscallExits(bpfrt.StageSecure, true, "init_module", "finit_module")
	case event.KindMemfd:
		return bpfrt.SyscallExits(bpfrt.StageSecure, false, "memfd_create")
	case event.KindBPF:
		return bpfrt.SyscallExits(bpfrt.StageSecure, false, "bpf")
	}
	return nil
}

// Sensor is the loaded and attached privilege sensor.
type Sensor struct {
	*bpfrt.Sensor
}

// Wanted lists the privilege kinds p lets reach userspace.
func Wanted(p *bpfpolicy.Kernel) []event.Kind { return p.WantedKinds(event.PrivKinds) }

// New loads and attaches the hooks of the kinds the policy wants. The
// caller must Close it.
func New(opts Options) (*Sensor, error) {
	kinds := Wanted(opts.Policy)
	if len(kinds) == 0 {
		return nil, fmt.Errorf("privilege sensor: the policy wants no privilege events")
	}
	spec, err := loadPrivilege()
	if err != nil {
		return nil, fmt.Errorf("privilege sensor: %w", err)
	}
	var table []bpfrt.Hook
	for _, k := range kinds {
		table = append(table, hooks(k)...)
	}
	s, err := bpfpolicy.StartSensor(Source, spec, opts.Policy, table, opts.Ring, opts.Syscalls, opts.ExcludeSelf)
	if err != nil {
		return nil, err
	}
	return &Sensor{s}, nil
}
