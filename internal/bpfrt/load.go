// Package bpfrt is the runtime every sensor shares: loading a collection
// with load-time constants and pruned programs, a declarative attach table,
// the syscall exit dispatcher every syscall hook goes through (Syscalls),
// and the ring buffer reader that feeds a bounded queue with counters.
package bpfrt

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// LoadOptions configure a collection at load time. The spec itself is the
// same on every machine; everything machine- or config-dependent goes here.
type LoadOptions struct {
	// Constants sets `volatile const` variables by name.
	Constants map[string]any
	// MapSizes overrides max_entries of maps by name (ring buffer sizes).
	MapSizes map[string]uint32
	// Programs, when non-empty, lists the programs to keep; the others are
	// removed from the spec before load so the kernel never verifies them.
	Programs []string
	// MapReplacements shares maps of another collection: the named maps of
	// this one are not created and these are used in their place. Names
	// the spec lacks are ignored, so every sensor can be handed the same
	// set of shared maps.
	MapReplacements map[string]*ebpf.Map
}

// Load applies opts to spec (a copy is modified, never the caller's) and
// loads it into the kernel.
func Load(spec *ebpf.CollectionSpec, opts LoadOptions) (*ebpf.Collection, error) {
	spec = spec.Copy()
	for name, v := range opts.Constants {
		vs, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("set constant %q: no such variable in BPF object", name)
		}
		if err := vs.Set(v); err != nil {
			return nil, fmt.Errorf("set constant %q: %w", name, err)
		}
	}
	for name, size := range opts.MapSizes {
		ms, ok := spec.Maps[name]
		if !ok {
			return nil, fmt.Errorf("resize map %q: no such map in BPF object", name)
		}
		ms.MaxEntries = size
	}
	if len(opts.Programs) > 0 {
		keep := make(map[string]bool, len(opts.Programs))
		for _, p := range opts.Programs {
			if _, ok := spec.Programs[p]; !ok {
				return nil, fmt.Errorf("keep program %q: no such program in BPF object", p)
			}
			keep[p] = true
		}
		for name := range spec.Programs {
			if !keep[name] {
				delete(spec.Programs, name)
			}
		}
	}
	replace := map[string]*ebpf.Map{}
	for name, m := range opts.MapReplacements {
		if ms, ok := spec.Maps[name]; ok {
			ms.MaxEntries = m.MaxEntries() // the owner may have resized it
			replace[name] = m
		}
	}
	coll, err := loadWithoutVariables(spec, replace)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			// The tail of the log names the failing instruction; the whole
			// log can be megabytes.
			return nil, fmt.Errorf("load BPF collection: %w (verifier: %+.20v)", err, ve)
		}
		return nil, fmt.Errorf("load BPF collection: %w", err)
	}
	return coll, nil
}

// loadWithoutVariables loads every program and map of spec, like
// ebpf.NewCollection, but without creating ebpf.Variables: those mmap the
// data sections, and the mapping lives until the garbage collector finds
// it, keeping .rodata and .bss in the kernel after Close. Constants are
// applied from the spec either way.
func loadWithoutVariables(spec *ebpf.CollectionSpec, replace map[string]*ebpf.Map) (*ebpf.Collection, error) {
	var (
		fields []reflect.StructField
		names  []string
	)
	add := func(name string, typ reflect.Type) {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", len(fields)),
			Type: typ,
			Tag:  reflect.StructTag(fmt.Sprintf(`ebpf:%q`, name)),
		})
		names = append(names, name)
	}
	for name := range spec.Programs {
		add(name, reflect.TypeFor[*ebpf.Program]())
	}
	nprogs := len(fields)
	for name := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue // data sections: loaded as dependencies of the programs
		}
		add(name, reflect.TypeFor[*ebpf.Map]())
	}
	objs := reflect.New(reflect.StructOf(fields))
	if err := spec.LoadAndAssign(objs.Interface(), &ebpf.CollectionOptions{MapReplacements: replace}); err != nil {
		return nil, err
	}
	coll := &ebpf.Collection{
		Programs: make(map[string]*ebpf.Program, nprogs),
		Maps:     make(map[string]*ebpf.Map, len(fields)-nprogs),
	}
	for i, name := range names {
		v := objs.Elem().Field(i).Interface()
		if i < nprogs {
			coll.Programs[name] = v.(*ebpf.Program)
		} else {
			coll.Maps[name] = v.(*ebpf.Map)
		}
	}
	return coll, nil
}

// HookKind says how a program is attached.
type HookKind int

const (
	// Tracepoint attaches to tracefs event Group/Name.
	Tracepoint HookKind = iota + 1
	// RawTracepoint attaches to raw tracepoint Name.
	RawTracepoint
	// Cgroup attaches to the cgroup directory Name (a cgroup v2 path) as
	// Attach, e.g. ebpf.AttachCGroupInet4Connect. It runs for every
	// process in that cgroup and below.
	Cgroup
	// SyscallExit runs the program at the exit of syscall Name (its tracefs
	// name: "openat" for sys_exit_openat), in Stage of the dispatcher.
	SyscallExit
)

// Hook is one row of a sensor's attach table.
type Hook struct {
	Program string
	Kind    HookKind
	Group   string          // tracepoint group, e.g. "sched"
	Name    string          // tracepoint name, e.g. "sched_process_exit"; cgroup path
	Attach  ebpf.AttachType // Cgroup only
	Stage   Stage           // SyscallExit only
	// Optional hooks are skipped when the kernel has no such tracepoint
	// or the architecture no such syscall (x86_64's legacy open, rename,
	// ... are missing from arm64).
	Optional bool
}

func (h Hook) String() string {
	switch h.Kind {
	case Tracepoint:
		return fmt.Sprintf("%s -> tracepoint/%s/%s", h.Program, h.Group, h.Name)
	case RawTracepoint:
		return fmt.Sprintf("%s -> raw_tracepoint/%s", h.Program, h.Name)
	case Cgroup:
		return fmt.Sprintf("%s -> cgroup %s (%s)", h.Program, h.Name, h.Attach)
	case SyscallExit:
		return fmt.Sprintf("%s -> syscall exit %s (%s)", h.Program, h.Name, h.Stage)
	}
	return fmt.Sprintf("%s -> unknown hook kind %d", h.Program, h.Kind)
}

// Links holds attached links; Close detaches them all. It is safe to call
// Close more than once and from several goroutines.
type Links struct {
	mu sync.Mutex
	ls []interface{ Close() error }
	// Skipped lists the optional hooks the kernel had no tracepoint for.
	Skipped []Hook
}

// Close detaches every link and returns the errors. Links are closed in
// parallel: releasing a tracepoint link waits for an RCU grace period
// (40-80 ms here). The kernel serialises those of different tracepoints,
// which is why syscalls go through the dispatcher instead.
func (ls *Links) Close() error {
	if ls == nil {
		return nil
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	errs := make([]error, len(ls.ls))
	var wg sync.WaitGroup
	for i, l := range ls.ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Close()
		}()
	}
	wg.Wait()
	ls.ls = nil
	return errors.Join(errs...)
}

// Attach attaches every hook of the table to its program in coll, syscall
// exits through sys (nil when the table has none). On error the links made
// so far are closed, so a failed attach leaves nothing behind.
func Attach(coll *ebpf.Collection, table []Hook, sys *Syscalls) (*Links, error) {
	links := &Links{ls: make([]interface{ Close() error }, 0, len(table))}
	for _, h := range table {
		prog, ok := coll.Programs[h.Program]
		if !ok {
			links.Close()
			return nil, fmt.Errorf("attach %s: program not loaded", h)
		}
		var (
			l   interface{ Close() error }
			err error
		)
		switch h.Kind {
		case Tracepoint:
			l, err = link.Tracepoint(h.Group, h.Name, prog, nil)
			if err != nil && h.Optional && errors.Is(err, os.ErrNotExist) {
				links.Skipped = append(links.Skipped, h)
				continue
			}
		case RawTracepoint:
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.Name, Program: prog})
		case Cgroup:
			// A link, not a legacy attachment: it goes away with vigil.
			l, err = link.AttachCgroup(link.CgroupOptions{Path: h.Name, Attach: h.Attach, Program: prog})
		case SyscallExit:
			if sys == nil {
				err = errors.New("no syscall dispatcher")
				break
			}
			l, err = sys.Set(h.Stage, h.Name, prog)
			if err != nil && h.Optional && errors.Is(err, ErrNoSyscall) {
				links.Skipped = append(links.Skipped, h)
				continue
			}
		default:
			err = errors.New("unknown hook kind")
		}
		if err != nil {
			links.Close()
			return nil, fmt.Errorf("attach %s: %w", h, err)
		}
		links.ls = append(links.ls, l)
	}
	return links, nil
}

// SumPerCPU returns the sum over CPUs of a per-CPU uint64 array map's value
// at key: how BPF programs count without atomics.
func SumPerCPU(m *ebpf.Map, key uint32) (uint64, error) {
	var vals []uint64
	if err := m.Lookup(key, &vals); err != nil {
		return 0, fmt.Errorf("read per-CPU counter %s: %w", m, err)
	}
	var sum uint64
	for _, v := range vals {
		sum += v
	}
	return sum, nil
}
