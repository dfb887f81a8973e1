package bpfrt

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Stage is a syscall exit program array of the dispatcher; a syscall can
// have one program in each. Observe programs run first and chain into the
// secure program of the same syscall (bpf/lib/syscall.h).
type Stage int

const (
	// StageObserve is the HTTP sensor's stage.
	StageObserve Stage = iota
	// StageSecure is the security sensors' stage.
	StageSecure
	numStages
)

var stageMaps = [numStages]string{StageObserve: "sys_exit_observe", StageSecure: "sys_exit_secure"}

func (st Stage) String() string {
	if st < 0 || st >= numStages {
		return fmt.Sprintf("stage(%d)", int(st))
	}
	return stageMaps[st]
}

// Syscalls is the syscall exit dispatcher: one raw tracepoint on sys_exit
// whose program tail-calls, by syscall number, the programs sensors put in
// its stage arrays (bpf/lib/syscall.h says why this beats a tracepoint per
// syscall). The raw tracepoint is attached while any program is set, so
// an agent with no syscall hooks pays nothing on syscalls. One Syscalls
// serves every sensor of an agent; Close it after them.
type Syscalls struct {
	mu   sync.Mutex
	coll *ebpf.Collection
	link link.Link // while used is non-empty
	used map[slot]string
}

type slot struct {
	stage Stage
	nr    uint32
}

// NewSyscalls loads the dispatcher, not yet attached.
func NewSyscalls() (*Syscalls, error) {
	spec, err := loadDispatch()
	if err != nil {
		return nil, fmt.Errorf("syscall dispatcher: %w", err)
	}
	coll, err := Load(spec, LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("syscall dispatcher: %w", err)
	}
	return &Syscalls{coll: coll, used: map[slot]string{}}, nil
}

// Maps are the stage arrays, by name, for the MapReplacements of sensor
// objects whose programs chain into a later stage.
func (s *Syscalls) Maps() map[string]*ebpf.Map {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*ebpf.Map, numStages)
	if s.coll == nil {
		return out // closed: Set refuses every hook too
	}
	for _, name := range stageMaps {
		out[name] = s.coll.Maps[name]
	}
	return out
}

// Set makes prog the stage's program for the exit of syscall name (as in
// the tracefs event sys_exit_<name>). The returned closer removes it. It
// fails if this architecture has no such syscall (errors.Is
// ErrNoSyscall) or the slot is taken.
func (s *Syscalls) Set(stage Stage, name string, prog *ebpf.Program) (interface{ Close() error }, error) {
	if stage < 0 || stage >= numStages {
		return nil, fmt.Errorf("syscall %s: unknown %s", name, stage)
	}
	nr, ok := syscallNumbers[name]
	if !ok {
		return nil, fmt.Errorf("syscall %s: %w", name, ErrNoSyscall)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.coll == nil {
		return nil, errors.New("syscall dispatcher is closed")
	}
	sl := slot{stage, nr}
	if owner, taken := s.used[sl]; taken {
		return nil, fmt.Errorf("syscall %s: %s already has program %s", name, stage, owner)
	}
	if err := s.coll.Maps[stageMaps[stage]].Put(nr, prog); err != nil {
		return nil, fmt.Errorf("syscall %s: set %s program: %w", name, stage, err)
	}
	s.used[sl] = fmt.Sprint(prog)
	if s.link == nil {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_exit", Program: s.coll.Programs["sys_exit_dispatch"]})
		if err != nil {
			s.clearLocked(sl)
			return nil, fmt.Errorf("syscall dispatcher: attach raw tracepoint sys_exit: %w", err)
		}
		s.link = l
	}
	return &syscallHook{s: s, sl: sl}, nil
}

// CompatExits counts the exits of 32-bit (compat) syscalls the dispatcher
// passed over since it was loaded: their numbers are another table's, and
// no sensor program reads their registers, so 32-bit programs on the node
// are not seen by the syscall sensors (nor by the kernel's syscall
// tracepoints, which skip them too).
func (s *Syscalls) CompatExits() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.coll == nil {
		return 0, errors.New("syscall dispatcher is closed")
	}
	return SumPerCPU(s.coll.Maps["compat_exits"], 0)
}

// SyscallExits is the attach table that runs exit_<name> at the exit of
// each named syscall, in stage. Optional hooks are for syscalls not every
// architecture has (x86_64's legacy open, rename, dup2, ...).
func SyscallExits(stage Stage, optional bool, names ...string) []Hook {
	out := make([]Hook, len(names))
	for i, n := range names {
		out[i] = Hook{Program: "exit_" + n, Kind: SyscallExit, Name: n, Stage: stage, Optional: optional}
	}
	return out
}

// ErrNoSyscall says the architecture has no syscall of that name.
var ErrNoSyscall = errors.New("no such syscall on this architecture")

// CheckSyscalls returns an error naming every syscall that a required
// (not Optional) SyscallExit hook of table needs and this architecture
// lacks (errors.Is ErrNoSyscall), or nil. StartSensor checks each table
// before it loads anything; the sensors' tests check all of theirs.
func CheckSyscalls(table []Hook) error {
	var missing []string
	for _, h := range table {
		if _, ok := syscallNumbers[h.Name]; h.Kind == SyscallExit && !h.Optional && !ok {
			missing = append(missing, h.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("syscall %s (%s): %w", strings.Join(missing, ", "), runtime.GOARCH, ErrNoSyscall)
	}
	return nil
}

// clearLocked empties a slot, and detaches the dispatcher with the last.
func (s *Syscalls) clearLocked(sl slot) error {
	if _, ok := s.used[sl]; !ok {
		return nil
	}
	delete(s.used, sl)
	err := s.coll.Maps[stageMaps[sl.stage]].Delete(sl.nr)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil
	}
	if len(s.used) == 0 && s.link != nil {
		err = errors.Join(err, s.link.Close())
		s.link = nil
	}
	if err != nil {
		return fmt.Errorf("syscall dispatcher: clear %s slot %d: %w", sl.stage, sl.nr, err)
	}
	return nil
}

// Close detaches the dispatcher and unloads it; programs still set are
// released.
func (s *Syscalls) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.coll == nil {
		return nil
	}
	var err error
	for sl := range s.used {
		err = errors.Join(err, s.clearLocked(sl))
	}
	if s.link != nil {
		err = errors.Join(err, s.link.Close())
		s.link = nil
	}
	s.coll.Close()
	s.coll = nil
	return err
}

// syscallHook is one set slot; Close empties it.
type syscallHook struct {
	s    *Syscalls
	sl   slot
	once sync.Once
}

func (h *syscallHook) Close() error {
	var err error
	h.once.Do(func() {
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		if h.s.coll != nil {
			err = h.s.clearLocked(h.sl)
		}
	})
	return err
}
