// Package file is the file activity sensor: opens, unlinks, renames,
// links, symlinks, chmod, chown and mounts, from syscall exits,
// filtered and enforced in the kernel by the rule policy (bpfpolicy).
package file

import (
	"fmt"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "file"

// Options configure the sensor.
type Options struct {
	// ExcludeSelf drops events of the calling process in the kernel.
	ExcludeSelf bool
	// Policy says which events the kernel lets through and enforces.
	Policy *bpfpolicy.Kernel
	// Ring is the process sensor's ring buffer, which this sensor writes
	// into so that its records and the process records keep one order.
	Ring *ebpf.Map
	// Syscalls is the agent's syscall dispatcher (nil: the sensor loads
	// its own).
	Syscalls *bpfrt.Syscalls
}

// exits hooks the exit of each syscall with its exit_<name> program, in
// the secure stage. Legacy syscalls (open, creat, unlink, rmdir, rename,
// link, symlink, chmod, chown, lchown) are optional: arm64 has none of
// them, and its programs call the *at forms, which are required.
func exits(optional bool, names ...string) []bpfrt.Hook {
	return bpfrt.SyscallExits(bpfrt.StageSecure, optional, names...)
}

// hooks is the attach table, by the kind of event the hooks report.
func hooks(k event.Kind) []bpfrt.Hook {
	switch k {
	case event.KindOpen:
		return slices.Concat(exits(false, "openat"), exits(true, "open", "creat", "openat2"))
	case event.KindUnlink:
		return slices.Concat(exits(false, "unlinkat"), exits(true, "unlink", "rmdir"))
	case event.KindRename:
		return slices.Concat(exits(false, "renameat2"), exits(true, "renameat", "rename"))
	case event.KindLink:
		return slices.Concat(exits(false, "linkat"), exits(true, "link"))
	case event.KindSymlink:
		return slices.Concat(exits(false, "symlinkat"), exits(true, "symlink"))
	case event.KindChmod:
		return slices.Concat(exits(false, "fchmodat", "fchmod"), exits(true, "chmod", "fchmodat2"))
	case event.KindChown:
		return slices.Concat(exits(false, "fchownat", "fchown"), exits(true, "chown", "lchown"))
	case event.KindMount:
		return exits(false, "mount")
	}
	return nil
}

// Sensor is the loaded and attached file sensor.
type Sensor struct {
	*bpfrt.Sensor
}

// Wanted lists the file kinds p lets reach userspace: the sensor attaches
// only their hooks, and is not needed when there are none.
func Wanted(p *bpfpolicy.Kernel) []event.Kind { return p.WantedKinds(event.FileKinds) }

// New loads and attaches the hooks of the kinds the policy wants. The
// caller must Close it.
func New(opts Options) (*Sensor, error) {
	kinds := Wanted(opts.Policy)
	if len(kinds) == 0 {
		return nil, fmt.Errorf("file sensor: the policy wants no file events")
	}
	spec, err := loadFile()
	if err != nil {
		return nil, fmt.Errorf("file sensor: %w", err)
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
