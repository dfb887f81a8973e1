package bpfpolicy

import (
	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// SensorOptions configure a security sensor: one that reports the kinds of
// events the policy wants and enforces its rules in the kernel.
type SensorOptions struct {
	// ExcludeSelf drops events of the calling process in the kernel.
	ExcludeSelf bool
	// Policy says which events the kernel lets through and enforces.
	Policy *Kernel
	// Ring is the process sensor's ring: a security event then arrives
	// after the exec of the process it belongs to.
	Ring *bpfrt.Ring
	// Syscalls is the agent's syscall dispatcher (nil: the sensor loads
	// its own).
	Syscalls *bpfrt.Syscalls
	// Cgroup2 is the cgroup v2 root, where cgroup hooks attach ("" when
	// none is mounted).
	Cgroup2 string
}

// Spec is the SensorSpec of a security sensor: its object, configured with
// the policy's constants and maps, the hooks of the kinds it reports, and
// the record type it writes.
func (o SensorOptions) Spec(name string, obj *ebpf.CollectionSpec, hooks []bpfrt.Hook, rt bpfrt.RecordType) bpfrt.SensorSpec {
	return bpfrt.SensorSpec{
		Name:        name,
		Spec:        obj,
		Load:        o.Policy.LoadOptions(),
		Hooks:       hooks,
		Ring:        o.Ring,
		Records:     []bpfrt.RecordType{rt},
		ExcludeSelf: o.ExcludeSelf,
		Syscalls:    o.Syscalls,
	}
}

// HooksFor is the attach table of a sensor for kinds: the hooks of each.
func HooksFor(kinds []event.Kind, hooks func(event.Kind) []bpfrt.Hook) []bpfrt.Hook {
	var table []bpfrt.Hook
	for _, k := range kinds {
		table = append(table, hooks(k)...)
	}
	return table
}
