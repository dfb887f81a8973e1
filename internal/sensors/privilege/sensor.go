// Package privilege is the privilege sensor: setuid and setgid calls,
// capset, ptrace, kernel module loading, memfd_create and bpf(2), from
// syscall exits, filtered and enforced in the kernel by the rule
// policy.
package privilege

import (
	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "privilege"

// Hooks is the attach table, by the kind of event the hooks report.
func Hooks(k event.Kind) []bpfrt.Hook {
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

// Spec is the sensor's spec for the kinds the policy wants; wanted is
// false when it wants none, and the sensor is not needed.
func Spec(opts bpfpolicy.SensorOptions) (spec bpfrt.SensorSpec, wanted bool, err error) {
	return opts.Spec(Source, opts.Policy.WantedKinds(event.PrivKinds), nil, loadPrivilege, Hooks, bpfrt.RecordPriv)
}
