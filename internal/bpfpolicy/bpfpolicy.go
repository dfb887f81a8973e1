// Package bpfpolicy puts a compiled rule policy (internal/policy) into the
// kernel: the load-time constants every sensor object is configured with,
// and the maps they all share (bpf/lib/policy.h). It also knows the
// kernel's numbers for event kinds and the flags of security records.
package bpfpolicy

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/policy"
)

// kindIDs maps enum policy_kind to event kinds (read-only).
var kindIDs = [...]event.Kind{
	bpfpolicyPolicyKindPK_EXEC:    event.KindExec,
	bpfpolicyPolicyKindPK_OPEN:    event.KindOpen,
	bpfpolicyPolicyKindPK_UNLINK:  event.KindUnlink,
	bpfpolicyPolicyKindPK_RENAME:  event.KindRename,
	bpfpolicyPolicyKindPK_LINK:    event.KindLink,
	bpfpolicyPolicyKindPK_SYMLINK: event.KindSymlink,
	bpfpolicyPolicyKindPK_CHMOD:   event.KindChmod,
	bpfpolicyPolicyKindPK_CHOWN:   event.KindChown,
	bpfpolicyPolicyKindPK_MOUNT:   event.KindMount,
	bpfpolicyPolicyKindPK_CONNECT: event.KindConnect,
	bpfpolicyPolicyKindPK_ACCEPT:  event.KindAccept,
	bpfpolicyPolicyKindPK_BIND:    event.KindBind,
	bpfpolicyPolicyKindPK_LISTEN:  event.KindListen,
	bpfpolicyPolicyKindPK_SOCKET:  event.KindSocket,
	bpfpolicyPolicyKindPK_DUP:     event.KindDup,
	bpfpolicyPolicyKindPK_SETUID:  event.KindSetuid,
	bpfpolicyPolicyKindPK_SETGID:  event.KindSetgid,
	bpfpolicyPolicyKindPK_CAPSET:  event.KindCapset,
	bpfpolicyPolicyKindPK_PTRACE:  event.KindPtrace,
	bpfpolicyPolicyKindPK_MODULE:  event.KindModule,
	bpfpolicyPolicyKindPK_MEMFD:   event.KindMemfd,
	bpfpolicyPolicyKindPK_BPF:     event.KindBPF,
}

const numKinds = int(bpfpolicyPolicyKindPK_MAX)

// Kind returns the event kind of a kernel kind number ("" when unknown).
func Kind(id uint8) event.Kind {
	if int(id) >= len(kindIDs) {
		return ""
	}
	return kindIDs[id]
}

// KindID returns the kernel's number for k, or 0 when the kernel has none.
func KindID(k event.Kind) uint8 {
	for i, kk := range kindIDs {
		if kk == k && k != "" {
			return uint8(i)
		}
	}
	return 0
}

// Record flags (record_header.flags of security records).
const (
	FlagKilled      = uint8(bpfpolicySecFlagsSEC_KILLED)
	FlagDenied      = uint8(bpfpolicySecFlagsSEC_DENIED)
	FlagProcUnknown = uint8(bpfpolicySecFlagsSEC_PROC_UNKNOWN)
	FlagInexact     = uint8(bpfpolicySecFlagsSEC_INEXACT)
)

// SharedMaps are the names of the maps every sensor object shares.
var SharedMaps = []string{"procs", "pol_exe", "pol_pexe", "pol_path", "pol_target", "pol_name", "pol_v4", "pol_v6", "pol_port"}

// Kernel is a policy in the kernel.
type Kernel struct {
	coll   *ebpf.Collection
	consts map[string]any
	prog   *policy.Program
}

// New creates the shared maps and fills them with prog's tables (prog may
// be nil: no rules). Every event of the kinds in emitAll reaches userspace
// whether a rule matches it or not (for `vigil trace --kind`).
func New(prog *policy.Program, emitAll []event.Kind) (*Kernel, error) {
	consts, err := constants(prog, emitAll)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	spec, err := loadBpfpolicy()
	if err != nil {
		return nil, fmt.Errorf("policy maps: %w", err)
	}
	var opts bpfrt.LoadOptions
	if consts["pol_active"] != uint8(1) {
		// No process will ever be looked up.
		opts.MapSizes = map[string]uint32{"procs": 1}
	}
	coll, err := bpfrt.Load(spec, opts)
	if err != nil {
		return nil, fmt.Errorf("policy maps: %w", err)
	}
	k := &Kernel{coll: coll, prog: prog, consts: consts}
	if err := k.fill(); err != nil {
		coll.Close()
		return nil, fmt.Errorf("policy maps: %w", err)
	}
	return k, nil
}

// Program is the policy's rules (nil when there are none).
func (k *Kernel) Program() *policy.Program { return k.prog }

// Constants are the load-time constants of every sensor object.
func (k *Kernel) Constants() map[string]any {
	out := make(map[string]any, len(k.consts))
	for n, v := range k.consts {
		out[n] = v
	}
	return out
}

// Maps are the maps every sensor object is loaded with in place of its own.
func (k *Kernel) Maps() map[string]*ebpf.Map {
	out := make(map[string]*ebpf.Map, len(SharedMaps))
	for _, n := range SharedMaps {
		out[n] = k.coll.Maps[n]
	}
	return out
}

// Active reports whether any kind reaches the kernel's policy at all.
func (k *Kernel) Active() bool { return k.consts["pol_active"] == uint8(1) }

// Wants reports whether events of kind kk can reach userspace: some rule
// names the kind, or all of its events are wanted.
func (k *Kernel) Wants(kk event.Kind) bool {
	id := KindID(kk)
	if id == 0 {
		return false
	}
	return k.consts["pol_kind_rules"].([numKinds]uint64)[id] != 0 || k.consts["pol_emit_all"].([numKinds]uint8)[id] != 0
}

// Close releases the maps (sensors hold their own references until they
// close).
func (k *Kernel) Close() { k.coll.Close() }

// Seed is a process that existed before the sensors attached.
type Seed struct {
	PID       uint32
	Exe       string
	ParentExe string
	// ParentKnown is false when the parent's executable is unknown.
	ParentKnown bool
}

// SeedProcesses records the standing of processes that existed before the
// sensors attached, as the exec program would have at their exec. Entries
// the kernel already has (a process that exec'ed since) are kept.
func (k *Kernel) SeedProcesses(seeds []Seed) error {
	if k.prog == nil || !k.Active() {
		return nil
	}
	m := k.coll.Maps["procs"]
	var errs []error
	for _, s := range seeds {
		exeOK, asParent := k.prog.ProcessMasks(s.Exe)
		st := bpfpolicyProcPolicy{ExeOk: exeOK, AsParent: asParent}
		if s.ParentKnown {
			_, pAs := k.prog.ProcessMasks(s.ParentExe)
			st.Ok = exeOK & pAs
		} else {
			// The parent rules stay candidates, undecided: userspace
			// decides them (policy_proc_ok in bpf/lib/policy.h).
			st.Ok = exeOK
			st.Flags = uint32(FlagProcUnknown)
		}
		if err := m.Update(s.PID, &st, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			errs = append(errs, fmt.Errorf("seed pid %d: %w", s.PID, err))
		}
	}
	return errors.Join(errs...)
}

// LoadOptions are what the policy contributes to every sensor object that
// filters or enforces by it: its load-time constants and the maps the
// objects share.
func (k *Kernel) LoadOptions() bpfrt.LoadOptions {
	return bpfrt.LoadOptions{Constants: k.Constants(), MapReplacements: k.Maps()}
}

// WantedKinds lists the kinds of kinds that k lets reach userspace.
func (k *Kernel) WantedKinds(kinds []event.Kind) []event.Kind {
	var out []event.Kind
	for _, kk := range kinds {
		if k.Wants(kk) {
			out = append(out, kk)
		}
	}
	return out
}
