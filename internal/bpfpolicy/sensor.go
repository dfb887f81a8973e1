package bpfpolicy

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Verdict is what the kernel decided about a security event: the rules it
// matched, and its flags (Flag*: what it did, what it left to userspace).
// Every security sensor's record carries one.
type Verdict struct {
	Rules uint64
	Flags uint8
}

// SensorOptions configure a security sensor: one that reports the kinds of
// events the policy wants and enforces its rules in the kernel.
type SensorOptions struct {
	// ExcludeSelf drops events of the calling process in the kernel.
	ExcludeSelf bool
	// Self is this process as the kernel knows it (bpfrt.SelfTGID), which
	// no rule kills or denies; 0: the sensor asks the kernel.
	Self uint32
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

// Spec is the SensorSpec of a security sensor named name: its object
// (from load), configured with the policy's constants and maps, attaching
// the hooks of each of kinds and then extra, and writing records of type
// rt. wanted is false when there is nothing to attach: the sensor is not
// needed.
func (o SensorOptions) Spec(name string, kinds []event.Kind, extra []bpfrt.Hook, load func() (*ebpf.CollectionSpec, error),
	hooks func(event.Kind) []bpfrt.Hook, rt bpfrt.RecordType) (spec bpfrt.SensorSpec, wanted bool, err error) {
	var table []bpfrt.Hook
	for _, k := range kinds {
		table = append(table, hooks(k)...)
	}
	table = append(table, extra...)
	if len(table) == 0 {
		return bpfrt.SensorSpec{}, false, nil
	}
	obj, err := load()
	if err != nil {
		return bpfrt.SensorSpec{}, false, fmt.Errorf("%s sensor: %w", name, err)
	}
	return bpfrt.SensorSpec{
		Name:        name,
		Spec:        obj,
		Load:        o.Policy.LoadOptions(),
		Hooks:       table,
		Ring:        o.Ring,
		Records:     []bpfrt.RecordType{rt},
		ExcludeSelf: o.ExcludeSelf,
		Self:        o.Self,
		Syscalls:    o.Syscalls,
	}, true, nil
}
