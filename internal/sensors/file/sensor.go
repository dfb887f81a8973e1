// Package file is the file activity sensor: opens, unlinks, renames,
// links, symlinks, chmod, chown and mounts, from syscall exits,
// filtered and enforced in the kernel by the rule policy (bpfpolicy).
package file

import (
	"slices"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "file"

// exits hooks the exit of each syscall with its exit_<name> program, in
// the secure stage. Legacy syscalls (open, creat, unlink, rmdir, rename,
// link, symlink, chmod, chown, lchown) are optional: arm64 has none of
// them, and its programs call the *at forms, which are required.
func exits(optional bool, names ...string) []bpfrt.Hook {
	return bpfrt.SyscallExits(bpfrt.StageSecure, optional, names...)
}

// Hooks is the attach table, by the kind of event the hooks report.
func Hooks(k event.Kind) []bpfrt.Hook {
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

// Spec is the sensor's spec for the kinds the policy wants; wanted is
// false when it wants none, and the sensor is not needed.
func Spec(opts bpfpolicy.SensorOptions) (spec bpfrt.SensorSpec, wanted bool, err error) {
	return opts.Spec(Source, opts.Policy.WantedKinds(event.FileKinds), nil, loadFile, Hooks, bpfrt.RecordFile)
}
