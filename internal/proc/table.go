package proc

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/selfmetrics"
)

// Table defaults.
const (
	DefaultMaxEntries   = 65536
	DefaultExitedTTL    = 30 * time.Second
	DefaultMaxAncestors = 16
)

// TableOptions configures a Table. The zero value is usable.
type TableOptions struct {
	// ProcRoot is where procfs is mounted; "" means DefaultProcRoot.
	ProcRoot string
	// Cgroup2Root is the cgroup v2 mount point (find it in
	// /proc/self/mountinfo; it is not always /sys/fs/cgroup). When set,
	// processes read from procfs get their CgroupID, and cgroup paths read
	// to resolve a kernel cgroup id are checked against it. "" disables both.
	Cgroup2Root string
	// MaxEntries bounds the number of processes kept; 0 means
	// DefaultMaxEntries. When full, exited processes are evicted first,
	// then the ones inserted or updated longest ago.
	MaxEntries int
	// ExitedTTL is how long an exited process stays resolvable, so that
	// events still queued behind its exit (and the lineage of its children)
	// resolve; 0 means DefaultExitedTTL.
	ExitedTTL time.Duration
}

// Table is the process table that enriches kernel events: processes keyed by
// pid (the thread group id), with their lineage. It is fed by exec, fork and
// exit events, seeded from procfs, and falls back to procfs for processes it
// has not seen. It is safe for concurrent use.
//
// Times are nanoseconds. Process start times (startNs) must be boot-relative,
// like the kernel's task->start_boottime and /proc/<pid>/stat, so that
// entries from events and from procfs compare; 0 means unknown. Exit and
// Sweep timestamps may use any clock, as long as it is the same one.
//
// The table never starts goroutines: the owner calls Sweep periodically.
type Table struct {
	procRoot    string
	cgroup2Root string
	maxEntries  int
	exitedTTL   uint64

	mu    sync.RWMutex
	procs map[uint32]*entry
	// cgroups caches what a kernel cgroup id means. cgroup ids are never
	// reused, so entries never go stale; Sweep drops the ones no process
	// refers to any more. Negative results (not a container) are cached too.
	cgroups map[uint64]cgroupInfo
	// noContainerV2 holds cgroup ids whose v2 path names no container.
	noContainerV2 map[uint64]struct{}
	// byCgroupPair caches the container of {v2 cgroup id, memory cgroup
	// id} pairs, for hosts where only v1 hierarchies name containers.
	byCgroupPair map[[2]uint64]string
	seq          uint64 // insertion counter, for eviction order
}

// entry is one process. proc.Args is shared between entries (a fork copies
// it) and with nothing else: the table copies args in and out and never
// modifies a stored slice in place.
type entry struct {
	proc     event.Process
	startNs  uint64
	seq      uint64
	exited   bool
	exitedNs uint64
}

// NewTable returns an empty table; call Seed to load the running processes.
func NewTable(opts TableOptions) *Table {
	t := &Table{
		procRoot:      cmp.Or(opts.ProcRoot, DefaultProcRoot),
		cgroup2Root:   opts.Cgroup2Root,
		maxEntries:    opts.MaxEntries,
		exitedTTL:     uint64(opts.ExitedTTL),
		procs:         make(map[uint32]*entry),
		cgroups:       make(map[uint64]cgroupInfo),
		noContainerV2: make(map[uint64]struct{}),
		byCgroupPair:  make(map[[2]uint64]string),
	}
	if t.maxEntries <= 0 {
		t.maxEntries = DefaultMaxEntries
	}
	if opts.ExitedTTL <= 0 {
		t.exitedTTL = uint64(DefaultExitedTTL)
	}
	return t
}

// Seed loads every running process from procfs. Processes the table already
// knows are kept as they are: events are fresher than a snapshot, and the
// owner should start the sensors before seeding so that nothing starting in
// between is missed. A non-nil error reports processes that could not be
// read; the others are loaded anyway.
func (t *Table) Seed() error {
	infos, err := Snapshot(t.procRoot, t.cgroup2Root)
	t.mu.Lock()
	for i := range infos {
		if _, ok := t.procs[infos[i].Process.PID]; !ok {
			t.insertLocked(entryFromInfo(&infos[i]))
		}
	}
	t.mu.Unlock()
	if err != nil {
		return fmt.Errorf("seed process table: %w", err)
	}
	return nil
}

// Exec records that process p.PID executed a new program. p is what the
// kernel reported; the table keeps its own copy. An exec keeps the pid, the
// parent, the working directory and the start time, so a zero p.PPID,
// startNs or empty p.Cwd is taken from the entry being replaced. A missing ContainerID is derived from p.CgroupID
// (cached per cgroup id, reading /proc/<pid>/cgroup on a miss) and a missing
// Service from the process's environment (read now; the executable's base
// name when the process is already gone).
func (t *Table) Exec(p event.Process, startNs uint64) {
	t.ExecInCgroup(p, startNs, 0)
}

// ExecInCgroup is Exec for a process whose memory controller cgroup id the
// kernel reported too (0: unknown). On hosts with cgroup v1 hierarchies,
// containers managed there share v2 cgroups, so the v2 id alone cannot be
// cached as naming a container; the pair of ids can, which spares a
// /proc/<pid>/cgroup read per exec.
func (t *Table) ExecInCgroup(p event.Process, startNs, memCgroupID uint64) {
	p.TID = p.PID // the exec'ing thread becomes the thread group leader
	p.Args = cloneArgs(p.Args)
	// procfs reads happen before taking the lock: they may block.
	if p.ContainerID == "" {
		p.ContainerID = t.containerID(p.PID, p.CgroupID, memCgroupID)
	}
	if p.Service == "" {
		environ, _ := readEnviron(t.procRoot, p.PID)
		p.Service = ServiceName(environ, p.Exe, p.Comm)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.procs[p.PID]; ok && !old.exited {
		if p.PPID == 0 {
			p.PPID = old.proc.PPID
		}
		if p.Cwd == "" {
			p.Cwd = old.proc.Cwd
		}
		if startNs == 0 {
			startNs = old.startNs
		}
	}
	t.insertLocked(&entry{proc: p, startNs: startNs})
}

// containerID returns the container of the process pid in kernel cgroup
// cgroupID (0 when unknown), using and filling the cgroup cache.
func (t *Table) containerID(pid uint32, cgroupID, memCgroupID uint64) string {
	pair := [2]uint64{cgroupID, memCgroupID}
	if cgroupID != 0 {
		t.mu.RLock()
		cg, ok := t.cgroups[cgroupID]
		id, okPair := t.byCgroupPair[pair]
		t.mu.RUnlock()
		if ok {
			return cg.containerID
		}
		if okPair && memCgroupID != 0 {
			return id
		}
	}
	cg, err := readCgroup(t.procRoot, pid)
	if err != nil {
		// Gone already: ask the cgroup filesystem about the id instead.
		return t.containerIDByCgroupID(cgroupID)
	}
	if cgroupID == 0 {
		return cg.containerID
	}
	if !cg.byV2 {
		if memCgroupID != 0 {
			t.mu.Lock()
			if len(t.byCgroupPair) >= maxCgroupPairs {
				clear(t.byCgroupPair) // bounded; pairs are cheap to learn again
			}
			t.byCgroupPair[pair] = cg.containerID
			t.mu.Unlock()
		}
		return cg.containerID
	}
	if t.cgroup2Root != "" {
		// The process may have moved since the event (or its pid been
		// reused): only cache a path that is the event's cgroup.
		if ino, err := cgroupInode(t.cgroup2Root, cg.path); err == nil && ino != cgroupID {
			return ""
		}
	}
	t.mu.Lock()
	t.cgroups[cgroupID] = cg
	t.mu.Unlock()
	return cg.containerID
}

// maxNoContainerV2 and maxCgroupPairs bound the caches of their names.
const (
	maxNoContainerV2 = 4096
	maxCgroupPairs   = 16384
)

// containerIDByCgroupID resolves a cgroup id whose process is gone. Only a
// container id found in the v2 path is cached: on hybrid hosts a runtime
// may manage only v1 hierarchies, and those cannot be asked by id.
//
// That the v2 path names no container is remembered apart (noContainerV2),
// and used only here: a short-lived process in such a cgroup (a storm of
// shell commands) then costs no syscall, while live processes still have
// their v1 lines read.
func (t *Table) containerIDByCgroupID(cgroupID uint64) string {
	if cgroupID == 0 || t.cgroup2Root == "" {
		return ""
	}
	t.mu.RLock()
	_, known := t.noContainerV2[cgroupID]
	t.mu.RUnlock()
	if known {
		return ""
	}
	path, err := CgroupPathByID(t.cgroup2Root, cgroupID)
	if err != nil {
		return "" // removed already: we learnt nothing, cache nothing
	}
	cg := cgroupInfo{path: path, containerID: ContainerID(path), byV2: true}
	if cg.containerID == "" {
		t.mu.Lock()
		if len(t.noContainerV2) >= maxNoContainerV2 {
			clear(t.noContainerV2) // bounded; ids are cheap to learn again
		}
		t.noContainerV2[cgroupID] = struct{}{}
		t.mu.Unlock()
		return ""
	}
	t.mu.Lock()
	t.cgroups[cgroupID] = cg
	t.mu.Unlock()
	return cg.containerID
}

// Fork records that parentPID created the process childPID, which starts as
// a copy of its parent (same program, arguments, credentials, cgroup). An
// unknown parent is read from procfs; failing that the child is, and
// failing that the child is recorded with its parent only, which keeps the
// lineage.
func (t *Table) Fork(parentPID, childPID uint32, startNs uint64) {
	var child *entry
	if parent, ok := t.resolve(parentPID); ok {
		child = &parent
		child.proc.PID, child.proc.TID, child.proc.PPID = childPID, childPID, parentPID
	} else if c, ok := t.read(childPID); ok {
		child = &c
		child.proc.PPID = parentPID
	} else {
		child = &entry{proc: event.Process{PID: childPID, TID: childPID, PPID: parentPID, Args: []string{}}}
	}
	child.startNs, child.exited, child.exitedNs = startNs, false, 0

	t.mu.Lock()
	defer t.mu.Unlock()
	// With several CPUs the child's own events (its exec, or a procfs read
	// triggered by them) can be handled before its fork: do not overwrite
	// what we know of the same process with its parent's image.
	if old, ok := t.procs[childPID]; ok && !old.exited && sameStart(old.startNs, startNs) {
		if old.proc.PPID == 0 {
			old.proc.PPID = parentPID
		}
		return
	}
	t.insertLocked(child)
}

// Exit records that process pid ended at nowNs. It stays resolvable until a
// Sweep at least ExitedTTL later. An unknown pid is ignored: the process is
// gone, there is nothing left to read. Call Fill for the exit event first.
func (t *Table) Exit(pid uint32, nowNs uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.procs[pid]; ok && !e.exited {
		e.exited, e.exitedNs = true, nowNs
	}
}

// Sweep removes the processes that exited at least ExitedTTL before nowNs
// and the cached cgroups no remaining process is in, and returns how many
// processes it removed.
func (t *Table) Sweep(nowNs uint64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	removed := 0
	inUse := make(map[uint64]struct{}, len(t.cgroups))
	for pid, e := range t.procs {
		if e.exited && nowNs >= e.exitedNs && nowNs-e.exitedNs >= t.exitedTTL {
			delete(t.procs, pid)
			removed++
			continue
		}
		inUse[e.proc.CgroupID] = struct{}{}
	}
	for id := range t.cgroups {
		if _, ok := inUse[id]; !ok {
			delete(t.cgroups, id)
		}
	}
	return removed
}

// Lookup returns the process pid as the table knows it, exited or not,
// without reading procfs.
func (t *Table) Lookup(pid uint32) (event.Process, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.procs[pid]
	if !ok {
		return event.Process{}, false
	}
	return e.snapshot(), true
}

// Version returns a number that changes whenever the table's entry for pid
// is replaced (exec, fork, first sight), so a caller holding a copy from
// Lookup can tell, cheaply, whether it is stale. ok is false when the pid
// is unknown.
func (t *Table) Version(pid uint32) (version uint64, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.procs[pid]
	if !ok {
		return 0, false
	}
	return e.seq, true
}

// Processes returns a snapshot of every live (not exited) process.
func (t *Table) Processes() []event.Process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]event.Process, 0, len(t.procs))
	for _, e := range t.procs {
		if !e.exited {
			out = append(out, e.snapshot())
		}
	}
	return out
}

// Ancestors returns up to limit (0 means DefaultMaxAncestors) ancestors of
// pid, nearest parent first, ending with init or a kernel thread's parent
// (ppid 0). Unknown processes on the way are read from procfs once and
// cached; the walk stops at one that cannot be read. Pid reuse can make
// the recorded parents form a loop or point to a younger process: the walk
// stops at a pid it has already visited and at a "parent" that started
// after its child.
func (t *Table) Ancestors(pid uint32, limit int) []event.Ancestor {
	if limit <= 0 {
		limit = DefaultMaxAncestors
	}
	cur, ok := t.resolve(pid)
	if !ok {
		return nil
	}
	visited := []uint32{pid}
	var out []event.Ancestor
	for len(out) < limit && cur.proc.PID != 1 {
		ppid := cur.proc.PPID
		if ppid == 0 || slices.Contains(visited, ppid) {
			break
		}
		parent, ok := t.resolve(ppid)
		if !ok || startedAfter(parent.startNs, cur.startNs) {
			break
		}
		out = append(out, event.Ancestor{
			PID:  parent.proc.PID,
			Comm: parent.proc.Comm,
			Exe:  parent.proc.Exe,
			Args: cloneArgs(parent.proc.Args),
		})
		visited = append(visited, ppid)
		cur = parent
	}
	return out
}

// Fill completes a process the kernel described only partly (exit and fork
// events carry pid, tid and comm): it sets PPID, Comm, Exe, Args, Cwd,
// CgroupID, ContainerID and Service where they are empty, from the table or,
// for an unknown pid, from procfs (and caches what it read). UID and GID are
// left alone since 0 is a valid id. If the process is unknown and gone, p is
// left as it is.
func (t *Table) Fill(p *event.Process) {
	e, ok := t.resolve(p.PID)
	if !ok {
		return
	}
	src := &e.proc
	if p.TID == 0 {
		p.TID = p.PID
	}
	if p.PPID == 0 {
		p.PPID = src.PPID
	}
	if p.Comm == "" {
		p.Comm = src.Comm
	}
	if p.Exe == "" {
		p.Exe = src.Exe
	}
	if len(p.Args) == 0 {
		p.Args = cloneArgs(src.Args)
	}
	if p.Cwd == "" {
		p.Cwd = src.Cwd
	}
	if p.CgroupID == 0 {
		p.CgroupID = src.CgroupID
	}
	if p.ContainerID == "" {
		p.ContainerID = src.ContainerID
	}
	if p.Service == "" {
		p.Service = src.Service
	}
}

// Len returns the number of processes in the table, exited ones included.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.procs)
}

var entriesFamily = selfmetrics.NewGauge("vigil_process_table_entries",
	"Processes in vigil's process table, including recently exited ones kept for lineage.")

// Register adds the table's metrics: its size.
func (t *Table) Register(m *selfmetrics.Set) {
	m.Add(entriesFamily, func() uint64 { return uint64(t.Len()) })
}

// resolve returns a copy of the entry for pid, reading it from procfs and
// caching it when the table does not know it.
func (t *Table) resolve(pid uint32) (entry, bool) {
	t.mu.RLock()
	e, ok := t.procs[pid]
	var cp entry
	if ok {
		cp = *e
	}
	t.mu.RUnlock()
	if ok {
		return cp, true
	}
	read, ok := t.read(pid)
	if !ok {
		return entry{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// An event may have inserted pid while we read procfs; it is fresher.
	if e, ok := t.procs[pid]; ok {
		return *e, true
	}
	stored := read
	t.insertLocked(&stored)
	return read, true
}

// read reads pid from procfs into an entry that is not yet in the table.
func (t *Table) read(pid uint32) (entry, bool) {
	info, err := ReadProcess(t.procRoot, pid)
	if err != nil {
		return entry{}, false
	}
	if t.cgroup2Root != "" {
		if ino, err := cgroupInode(t.cgroup2Root, info.CgroupPath); err == nil {
			info.Process.CgroupID = ino
		}
	}
	return *entryFromInfo(&info), true
}

// insertLocked stores e under its pid, evicting first if the table is full.
func (t *Table) insertLocked(e *entry) {
	if _, ok := t.procs[e.proc.PID]; !ok && len(t.procs) >= t.maxEntries {
		t.evictLocked()
	}
	t.seq++
	e.seq = t.seq
	t.procs[e.proc.PID] = e
}

// evictLocked makes room by removing a batch of entries: exited ones first
// (earliest exit first), then live ones least recently inserted or updated.
// Evicting a batch rather than one entry keeps the sort amortised; a live
// process evicted by mistake is read back from procfs on its next use.
func (t *Table) evictLocked() {
	n := max(1, t.maxEntries/64)
	victims := make([]*entry, 0, len(t.procs))
	for _, e := range t.procs {
		victims = append(victims, e)
	}
	slices.SortFunc(victims, func(a, b *entry) int {
		switch {
		case a.exited && !b.exited:
			return -1
		case !a.exited && b.exited:
			return 1
		case a.exited:
			if c := cmp.Compare(a.exitedNs, b.exitedNs); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for _, e := range victims[:min(n, len(victims))] {
		delete(t.procs, e.proc.PID)
	}
}

// snapshot returns the entry's process with Args copied, so that callers
// holding on to events never share memory with the table.
func (e *entry) snapshot() event.Process {
	p := e.proc
	p.Args = cloneArgs(p.Args)
	return p
}

func entryFromInfo(info *Info) *entry {
	p := info.Process
	p.Args = cloneArgs(p.Args)
	return &entry{proc: p, startNs: info.StartTime}
}

// cloneArgs copies args, never returning nil: "args" is always a JSON array.
// The strings themselves are immutable and shared.
func cloneArgs(args []string) []string {
	if len(args) == 0 {
		return []string{}
	}
	return slices.Clone(args)
}

// Start times from procfs are truncated to clock ticks while the kernel's
// are exact, so two start times of one process differ by less than a tick.

// sameStart reports whether two known start times may be the same process's.
func sameStart(a, b uint64) bool {
	if a == 0 || b == 0 {
		return false
	}
	if a > b {
		a, b = b, a
	}
	return b-a < nsPerClockTick
}

// startedAfter reports whether a process that started at parentNs cannot be
// the parent of one that started at childNs (its pid was reused).
func startedAfter(parentNs, childNs uint64) bool {
	return parentNs != 0 && childNs != 0 && parentNs >= childNs+nsPerClockTick
}
