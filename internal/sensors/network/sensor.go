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

// exits hooks each syscall's exit with its exit_<name> program, in the
// secure stage.
func exits(names ...string) []bpfrt.Hook {
	return bpfrt.SyscallExits(bpfrt.StageSecure, false, names...)
}

// Hooks is the attach table, by the kind of event the hooks report: each
// call's exit, where its arguments and its result are known.
func Hooks(k event.Kind) []bpfrt.Hook {
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

// Spec is the sensor's spec for the kinds the policy wants and its deny
// rules; wanted is false when it has neither, and the sensor is not
// needed.
func Spec(opts bpfpolicy.SensorOptions) (spec bpfrt.SensorSpec, wanted bool, err error) {
	var deny []bpfrt.Hook
	if opts.Policy.Program() != nil && opts.Policy.Program().Deny != 0 {
		if opts.Cgroup2 == "" {
			return bpfrt.SensorSpec{}, false, fmt.Errorf("network sensor: deny rules need the cgroup v2 hierarchy, and none is mounted")
		}
		deny = denyHooks(opts.Cgroup2)
	}
	return opts.Spec(Source, opts.Policy.WantedKinds(event.NetKinds), deny, loadNetwork, Hooks, bpfrt.RecordNet)
}
