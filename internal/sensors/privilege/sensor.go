// Package privilege is the privilege sensor: setuid and setgid calls,
// capset, ptrace, kernel module loading, memfd_create and bpf(2), from
// syscall exits, filtered and enforced in the kernel by the rule
// policy.
package privilege

import (
	"fmt"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "privilege"

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

// Spec is the sensor's spec for the kinds the policy wants; wanted is
// false when it wants none, and the sensor is not needed.
func Spec(opts bpfpolicy.SensorOptions) (spec bpfrt.SensorSpec, wanted bool, err error) {
	kinds := opts.Policy.WantedKinds(event.PrivKinds)
	if len(kinds) == 0 {
		return bpfrt.SensorSpec{}, false, nil
	}
	obj, err := loadPrivilege()
	if err != nil {
		return bpfrt.SensorSpec{}, false, fmt.Errorf("privilege sensor: %w", err)
	}
	return opts.Spec(Source, obj, bpfpolicy.HooksFor(kinds, hooks), bpfrt.RecordPriv), true, nil
}
