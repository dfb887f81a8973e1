// Package network is the network activity sensor: connect, accept, bind,
// listen, socket and sockets dup'ed onto stdin/stdout/stderr, from syscall
// exits, filtered and enforced in the kernel by the rule policy; and
// the deny action, from cgroup connect and sendmsg hooks.
package network

import (
	"fmt"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "network"

// Options configure the sensor.
type Options struct {
	// ExcludeSelf drops events of the calling process in the kernel.
	ExcludeSelf bool
	// Policy says which events the kernel lets through and enforces.
	Policy *bpfpolicy.Kernel
	// Ring is the process sensor's ring buffer (see file.Options.Ring).
	Ring *ebpf.Map
	// Cgroup2 is the cgroup v2 root, where the deny hooks attach. Needed
	// only when the policy has deny rules.
	Cgroup2 string
	// Syscalls is the agent's syscall dispatcher (nil: the sensor loads
	// its own).
	Syscalls *bpfrt.Syscalls
}

// exits hooks each syscall's exit with its exit_<name> program, in the
// secure stage.
func exits(names ...string) []bpfrt.Hook {
	return bpfrt.SyscallExits(bpfrt.StageSecure, false, names...)
}

// hooks is the attach table, by the kind of event the hooks report: each
// call's exit, where its arguments and its result are known.
func hooks(k event.Kind) []bpfrt.Hook {
	switch k {
	case event.KindConnect:
		return exits("connect")
	case event.KindBind:
		return exits("bind")
	case event.KindListen:
		return exits("listen")
	case event.KindAccept:
		return exits("accept", "accept4")
	case event.KindSocket:
		return exits("socket")
	case event.KindDup:
		// dup2 is a legacy syscall arm64 lacks; programs there call
		// dup3 (glibc's dup2 does), which is required.
		return slices.Concat(bpfrt.SyscallExits(bpfrt.StageSecure, true, "dup2"), exits("dup3", "dup"))
	}
	return nil
}

// denyHooks refuse connections the deny rules match.
func denyHooks(cgroup2 string) []bpfrt.Hook {
	h := func(prog string, at ebpf.AttachType) bpfrt.Hook {
		return bpfrt.Hook{Program: prog, Kind: bpfrt.Cgroup, Name: cgroup2, Attach: at}
	}
	return []bpfrt.Hook{
		h("deny_connect4", ebpf.AttachCGroupInet4Connect),
		h("deny_connect6", ebpf.AttachCGroupInet6Connect),
		h("deny_sendmsg4", ebpf.AttachCGroupUDP4Sendmsg),
		h("deny_sendmsg6", ebpf.AttachCGroupUDP6Sendmsg),
	}
}

// Sensor is the loaded and attached network sensor.
type Sensor struct {
	*bpfrt.Sensor
}

// Wanted lists the network kinds p lets reach userspace, and whether it
// has deny rules: the sensor is needed when either is non-empty.
func Wanted(p *bpfpolicy.Kernel) (kinds []event.Kind, deny bool) {
	return p.WantedKinds(event.NetKinds), p.Program() != nil && p.Program().Deny != 0
}

// New loads and attaches the hooks the policy needs. The caller must
// Close it.
func New(opts Options) (*Sensor, error) {
	kinds, deny := Wanted(opts.Policy)
	if len(kinds) == 0 && !deny {
		return nil, fmt.Errorf("network sensor: the policy wants no network events")
	}
	spec, err := loadNetwork()
	if err != nil {
		return nil, fmt.Errorf("network sensor: %w", err)
	}
	var table []bpfrt.Hook
	for _, k := range kinds {
		table = append(table, hooks(k)...)
	}
	if deny {
		if opts.Cgroup2 == "" {
			return nil, fmt.Errorf("network sensor: deny rules need the cgroup v2 hierarchy, and none is mounted")
		}
		table = append(table, denyHooks(opts.Cgroup2)...)
	}
	s, err := bpfpolicy.StartSensor(Source, spec, opts.Policy, table, opts.Ring, opts.Syscalls, opts.ExcludeSelf)
	if err != nil {
		return nil, err
	}
	return &Sensor{s}, nil
}
