package proc

import (
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/event"
)

const (
	sec      = uint64(time.Second)
	otherID  = "0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f"
	podmanID = "5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78"
)

// fakeHost is a small process tree: systemd, kthreadd, a login shell and a
// containerised server.
func fakeHost(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFakeProc(t, root, fakeProc{pid: 1, comm: "systemd", exe: "/usr/lib/systemd/systemd", args: []string{"/sbin/init", "splash"},
		cwd: "/", startTicks: 1, cgroup: cgroupV2("/init.scope")})
	writeFakeProc(t, root, fakeProc{pid: 2, comm: "kthreadd", startTicks: 1, cgroup: cgroupV2("/")})
	writeFakeProc(t, root, fakeProc{pid: 100, ppid: 1, comm: "bash", uid: 1000, gid: 1000, exe: "/usr/bin/bash", args: []string{"-bash"},
		cwd: "/home/ann", startTicks: 500, environ: []string{"HOME=/home/ann"}, cgroup: cgroupV2("/user.slice/user-1000.slice/session-2.scope")})
	writeFakeProc(t, root, fakeProc{pid: 300, ppid: 1, comm: "server", exe: "/app/server", args: []string{"/app/server", "-v"},
		cwd: "/app", startTicks: 900, environ: []string{"OTEL_SERVICE_NAME=checkout"},
		cgroup: cgroupV2("/system.slice/docker-" + dockerID + ".scope")})
	return root
}

func TestTableForkExecExit(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: fakeHost(t), ExitedTTL: 10 * time.Second})
	if err := tab.Seed(); err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 4 {
		t.Fatalf("Len after seed = %d, want 4", tab.Len())
	}

	tab.Fork(100, 200, 6*sec)
	got, ok := tab.Lookup(200)
	want := event.Process{PID: 200, TID: 200, PPID: 100, UID: 1000, GID: 1000, Comm: "bash", Exe: "/usr/bin/bash",
		Args: []string{"-bash"}, Cwd: "/home/ann", Service: "bash"}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("after fork: %+v, %v\nwant %+v", got, ok, want)
	}

	// The kernel's exec event: a thread of 200 ran execve; PPID and cwd are
	// not in it.
	tab.Exec(event.Process{PID: 200, TID: 201, UID: 1000, GID: 1000, Comm: "curl", Exe: "/usr/bin/curl",
		Args: []string{"curl", "-s", "http://example.com"}}, 0)
	got, _ = tab.Lookup(200)
	want = event.Process{PID: 200, TID: 200, PPID: 100, UID: 1000, GID: 1000, Comm: "curl", Exe: "/usr/bin/curl",
		Args: []string{"curl", "-s", "http://example.com"}, Cwd: "/home/ann", Service: "curl"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after exec: %+v\nwant %+v", got, want)
	}

	anc := tab.Ancestors(200, 0)
	wantAnc := []event.Ancestor{
		{PID: 100, Comm: "bash", Exe: "/usr/bin/bash", Args: []string{"-bash"}},
		{PID: 1, Comm: "systemd", Exe: "/usr/lib/systemd/systemd", Args: []string{"/sbin/init", "splash"}},
	}
	if !reflect.DeepEqual(anc, wantAnc) {
		t.Errorf("ancestors = %+v\nwant %+v", anc, wantAnc)
	}

	tab.Exit(200, 100*sec)
	if _, ok := tab.Lookup(200); !ok {
		t.Error("exited process not resolvable before its TTL")
	}
	if n := tab.Sweep(110*sec - 1); n != 0 {
		t.Errorf("sweep before TTL removed %d", n)
	}
	tab.Exit(200, 105*sec) // a second exit report does not extend the TTL
	if n := tab.Sweep(110 * sec); n != 1 {
		t.Errorf("sweep at TTL removed %d, want 1", n)
	}
	if _, ok := tab.Lookup(200); ok {
		t.Error("exited process still present after sweep")
	}
	if tab.Len() != 4 {
		t.Errorf("Len = %d, want 4", tab.Len())
	}
}

func TestTableExecServiceAndContainer(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: fakeHost(t)})
	// Service from OTEL_SERVICE_NAME in the environment at exec time,
	// container from the cgroup the kernel reports.
	tab.Exec(event.Process{PID: 300, PPID: 1, Comm: "server", Exe: "/app/server", Args: []string{"/app/server"}, CgroupID: 42}, 9*sec)
	p, _ := tab.Lookup(300)
	if p.Service != "checkout" || p.ContainerID != dockerID || p.CgroupID != 42 {
		t.Errorf("service %q container %q cgroup %d, want checkout %s 42", p.Service, p.ContainerID, p.CgroupID, dockerID)
	}
	// Process already gone: the executable's base name.
	tab.Exec(event.Process{PID: 999, PPID: 1, Comm: "true", Exe: "/usr/bin/true"}, 9*sec)
	if p, _ := tab.Lookup(999); p.Service != "true" || p.ContainerID != "" || p.Args == nil {
		t.Errorf("gone process: service %q container %q args %#v", p.Service, p.ContainerID, p.Args)
	}
	// Values the event already carries are kept.
	tab.Exec(event.Process{PID: 300, Comm: "server", Exe: "/app/server", Service: "given", ContainerID: otherID}, 0)
	if p, _ := tab.Lookup(300); p.Service != "given" || p.ContainerID != otherID || p.PPID != 1 {
		t.Errorf("given fields: %+v", p)
	}
}

func TestTableCgroupCache(t *testing.T) {
	root := t.TempDir()
	tab := NewTable(TableOptions{ProcRoot: root})
	exec := func(pid uint32, cgroupID uint64) string {
		t.Helper()
		tab.Exec(event.Process{PID: pid, Comm: "sh", Exe: "/bin/sh", CgroupID: cgroupID}, 0)
		p, _ := tab.Lookup(pid)
		return p.ContainerID
	}

	writeFakeProc(t, root, fakeProc{pid: 10, comm: "sh", cgroup: cgroupV2("/system.slice/docker-" + dockerID + ".scope")})
	if got := exec(10, 42); got != dockerID {
		t.Fatalf("first exec in cgroup 42: %q", got)
	}
	// A process whose cgroup file says otherwise gets the cached answer for
	// the cgroup id the kernel reported: the file was not read.
	writeFakeProc(t, root, fakeProc{pid: 11, comm: "sh", cgroup: cgroupV2("/system.slice/docker-" + otherID + ".scope")})
	if got := exec(11, 42); got != dockerID {
		t.Errorf("cached cgroup 42: %q", got)
	}
	// Negative results are cached too.
	writeFakeProc(t, root, fakeProc{pid: 12, comm: "sh", cgroup: cgroupV2("/user.slice/user-1000.slice/session-2.scope")})
	writeFakeProc(t, root, fakeProc{pid: 13, comm: "sh", cgroup: cgroupV2("/system.slice/docker-" + otherID + ".scope")})
	if got := exec(12, 43); got != "" {
		t.Errorf("session scope: %q", got)
	}
	if got := exec(13, 43); got != "" {
		t.Errorf("cached negative cgroup 43: %q", got)
	}
	// A process gone before its cgroup was read teaches nothing.
	if got := exec(14, 44); got != "" {
		t.Errorf("gone process: %q", got)
	}
	writeFakeProc(t, root, fakeProc{pid: 14, comm: "sh", cgroup: cgroupV2("/machine.slice/libpod-" + podmanID + ".scope/container")})
	if got := exec(14, 44); got != podmanID {
		t.Errorf("retry after gone process: %q", got)
	}
	// Hybrid host where docker manages only the v1 hierarchies: containers
	// share the v2 cgroup of containerd, so nothing is cached by its id.
	hybrid := func(id string) string {
		v1 := ""
		if id != "" {
			v1 = "4:memory:/docker/" + id + "\n"
		}
		return v1 + "1:name=systemd:/system.slice/containerd.service\n0::/system.slice/containerd.service\n"
	}
	writeFakeProc(t, root, fakeProc{pid: 20, comm: "sh", cgroup: hybrid(dockerID)})
	writeFakeProc(t, root, fakeProc{pid: 21, comm: "containerd", cgroup: hybrid("")})
	writeFakeProc(t, root, fakeProc{pid: 22, comm: "sh", cgroup: hybrid(otherID)})
	for pid, want := range map[uint32]string{20: dockerID, 21: "", 22: otherID} {
		if got := exec(pid, 45); got != want {
			t.Errorf("hybrid pid %d: %q, want %q", pid, got, want)
		}
	}

	// Sweep forgets cgroups no process is in any more.
	for _, pid := range []uint32{10, 11} {
		tab.Exit(pid, 0)
	}
	tab.Sweep(uint64(DefaultExitedTTL))
	tab.mu.RLock()
	_, has42 := tab.cgroups[42]
	_, has43 := tab.cgroups[43]
	tab.mu.RUnlock()
	if has42 || !has43 {
		t.Errorf("after sweep: cgroup 42 cached %v (want false), 43 cached %v (want true)", has42, has43)
	}
}

func TestTableExecAfterPidReuse(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: t.TempDir()})
	tab.Exec(event.Process{PID: 50, PPID: 7, Comm: "old"}, sec)
	tab.Exit(50, 2*sec)
	// A new process got pid 50 and we missed its fork: nothing of the old
	// one carries over.
	tab.Exec(event.Process{PID: 50, Comm: "new"}, 0)
	if p, _ := tab.Lookup(50); p.PPID != 0 || p.Comm != "new" {
		t.Errorf("reused pid: %+v", p)
	}
}

func TestTableForkUnknownParent(t *testing.T) {
	root := fakeHost(t)
	tab := NewTable(TableOptions{ProcRoot: root})

	// Parent unknown but readable: read and cached, child copies it.
	tab.Fork(300, 301, 10*sec)
	if p, _ := tab.Lookup(301); p.Exe != "/app/server" || p.PPID != 300 || p.ContainerID != dockerID || p.Service != "checkout" {
		t.Errorf("child of procfs parent: %+v", p)
	}
	if _, ok := tab.Lookup(300); !ok {
		t.Error("parent read from procfs was not cached")
	}

	// Parent gone, child readable: the child as procfs shows it.
	writeFakeProc(t, root, fakeProc{pid: 401, ppid: 1, comm: "worker", exe: "/usr/bin/worker", cgroup: cgroupV2("/")})
	tab.Fork(400, 401, 10*sec)
	if p, _ := tab.Lookup(401); p.Exe != "/usr/bin/worker" || p.PPID != 400 {
		t.Errorf("child of gone parent: %+v", p)
	}

	// Both gone: the lineage link alone.
	tab.Fork(500, 501, 10*sec)
	want := event.Process{PID: 501, TID: 501, PPID: 500, Args: []string{}}
	if p, _ := tab.Lookup(501); !reflect.DeepEqual(p, want) {
		t.Errorf("child of gone parent, gone: %+v, want %+v", p, want)
	}
}

func TestTableForkAfterChildExec(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: fakeHost(t)})
	// Handled out of order: the child's exec before its fork.
	tab.Exec(event.Process{PID: 700, Comm: "ls", Exe: "/usr/bin/ls", Args: []string{"ls"}}, 20*sec)
	tab.Fork(100, 700, 20*sec)
	if p, _ := tab.Lookup(700); p.Exe != "/usr/bin/ls" || p.PPID != 100 {
		t.Errorf("fork after exec overwrote the exec'd image: %+v", p)
	}
	// A fork reusing the pid of an older process replaces it.
	tab.Fork(100, 700, 30*sec)
	if p, _ := tab.Lookup(700); p.Exe != "/usr/bin/bash" {
		t.Errorf("fork of a new process with a reused pid: %+v", p)
	}
}

func TestTableSeedKeepsEventEntries(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: fakeHost(t)})
	tab.Exec(event.Process{PID: 100, PPID: 1, Comm: "vim", Exe: "/usr/bin/vim"}, 0)
	if err := tab.Seed(); err != nil {
		t.Fatal(err)
	}
	if p, _ := tab.Lookup(100); p.Comm != "vim" {
		t.Errorf("seed overwrote an entry from an event: %+v", p)
	}
}

func TestTableAncestorsGuards(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: t.TempDir()}) // no procfs fallback
	add := func(pid, ppid uint32, startNs uint64) {
		tab.Exec(event.Process{PID: pid, PPID: ppid, Comm: "p"}, startNs)
	}
	pids := func(anc []event.Ancestor) []uint32 {
		var out []uint32
		for _, a := range anc {
			out = append(out, a.PID)
		}
		return out
	}

	// Cycles created by pid reuse.
	add(10, 11, 0)
	add(11, 12, 0)
	add(12, 10, 0)
	if got := pids(tab.Ancestors(10, 0)); !slices.Equal(got, []uint32{11, 12}) {
		t.Errorf("cycle: %v, want [11 12]", got)
	}
	add(13, 13, 0)
	if got := tab.Ancestors(13, 0); len(got) != 0 {
		t.Errorf("self-parent: %v", pids(got))
	}

	// A "parent" younger than its child is a reused pid.
	add(20, 0, 0)
	add(21, 20, 5*sec)
	add(22, 21, 3*sec)
	if got := pids(tab.Ancestors(22, 0)); len(got) != 0 {
		t.Errorf("younger parent: %v, want none", got)
	}
	// Start times within a clock tick (procfs vs kernel) are not reuse.
	add(23, 21, 5*sec-nsPerClockTick/2)
	if got := pids(tab.Ancestors(23, 0)); !slices.Equal(got, []uint32{21, 20}) {
		t.Errorf("parent within a tick: %v, want [21 20]", got)
	}

	// Missing link: stop there.
	add(30, 31, 0)
	if got := tab.Ancestors(30, 0); len(got) != 0 {
		t.Errorf("unknown parent: %v", pids(got))
	}
	if got := tab.Ancestors(99, 0); got != nil {
		t.Errorf("unknown process: %v", pids(got))
	}

	// Depth limit, and the walk ends at init.
	add(1, 0, 0)
	for pid := uint32(1001); pid <= 1040; pid++ {
		add(pid, pid-1, 0)
	}
	add(1000, 1, 0)
	if got := tab.Ancestors(1040, 0); len(got) != DefaultMaxAncestors || got[0].PID != 1039 || got[15].PID != 1024 {
		t.Errorf("default limit: %v", pids(got))
	}
	if got := pids(tab.Ancestors(1040, 3)); !slices.Equal(got, []uint32{1039, 1038, 1037}) {
		t.Errorf("limit 3: %v", got)
	}
	if got := pids(tab.Ancestors(1002, 0)); !slices.Equal(got, []uint32{1001, 1000, 1}) {
		t.Errorf("to init: %v", got)
	}
	if got := tab.Ancestors(1, 0); len(got) != 0 {
		t.Errorf("init's ancestors: %v", pids(got))
	}
}

func TestTableAncestorsProcfsFallback(t *testing.T) {
	root := fakeHost(t)
	writeFakeProc(t, root, fakeProc{pid: 150, ppid: 100, comm: "make", exe: "/usr/bin/make", args: []string{"make", "-j8"}, cgroup: cgroupV2("/")})
	tab := NewTable(TableOptions{ProcRoot: root})
	got := tab.Ancestors(150, 0)
	want := []event.Ancestor{
		{PID: 100, Comm: "bash", Exe: "/usr/bin/bash", Args: []string{"-bash"}},
		{PID: 1, Comm: "systemd", Exe: "/usr/lib/systemd/systemd", Args: []string{"/sbin/init", "splash"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ancestors = %+v\nwant %+v", got, want)
	}
	if tab.Len() != 3 {
		t.Errorf("Len = %d, want 3: what procfs gave is cached", tab.Len())
	}
}

func TestTableEviction(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: t.TempDir(), MaxEntries: 64}) // evicts one at a time
	for pid := uint32(1); pid <= 64; pid++ {
		tab.Exec(event.Process{PID: pid, Comm: "p"}, 0)
	}
	tab.Exit(10, 5*sec)
	tab.Exit(20, 3*sec)
	tab.Exec(event.Process{PID: 5, Comm: "again"}, 0) // update: no eviction, 5 is now the newest
	if tab.Len() != 64 {
		t.Fatalf("Len = %d, want 64", tab.Len())
	}
	present := func(pid uint32) bool { _, ok := tab.Lookup(pid); return ok }

	tab.Exec(event.Process{PID: 100, Comm: "p"}, 0)
	if present(20) || !present(10) {
		t.Errorf("first eviction: want the earliest exited (20) gone, 10 kept")
	}
	tab.Exec(event.Process{PID: 101, Comm: "p"}, 0)
	if present(10) || !present(1) {
		t.Errorf("second eviction: want the other exited (10) gone, 1 kept")
	}
	tab.Exec(event.Process{PID: 102, Comm: "p"}, 0)
	tab.Exec(event.Process{PID: 103, Comm: "p"}, 0)
	tab.Exec(event.Process{PID: 104, Comm: "p"}, 0)
	tab.Exec(event.Process{PID: 105, Comm: "p"}, 0)
	tab.Exec(event.Process{PID: 106, Comm: "p"}, 0)
	if present(1) || present(2) || present(3) || present(4) || present(6) || !present(5) || !present(7) {
		t.Errorf("live evictions: want 1-4 and 6 (oldest) gone, updated 5 and 7 kept")
	}
	if tab.Len() != 64 {
		t.Errorf("Len = %d, want 64", tab.Len())
	}

	big := NewTable(TableOptions{ProcRoot: t.TempDir(), MaxEntries: 1000})
	for pid := uint32(1); pid <= 5000; pid++ {
		big.Exec(event.Process{PID: pid}, 0)
	}
	if n := big.Len(); n > 1000 {
		t.Errorf("Len = %d, above MaxEntries", n)
	}
	if _, ok := big.Lookup(5000); !ok {
		t.Error("newest entry evicted")
	}
}

func TestTableFill(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: fakeHost(t)})

	// Unknown pid: read from procfs and cached; what the event has is kept.
	p := event.Process{PID: 300, TID: 305, UID: 0, Comm: "server-worker"}
	tab.Fill(&p)
	want := event.Process{PID: 300, TID: 305, PPID: 1, Comm: "server-worker", Exe: "/app/server", Args: []string{"/app/server", "-v"},
		Cwd: "/app", ContainerID: dockerID, Service: "checkout"}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("filled %+v\nwant   %+v", p, want)
	}
	if tab.Len() != 1 {
		t.Errorf("Len = %d, want 1: the procfs read is cached", tab.Len())
	}

	// Exited process still known: an exit event handled after Exit.
	tab.Exec(event.Process{PID: 600, PPID: 300, Comm: "job", Exe: "/bin/job", Args: []string{"job"}, CgroupID: 7}, 0)
	tab.Exit(600, sec)
	p = event.Process{PID: 600, TID: 600, Comm: "job"}
	tab.Fill(&p)
	if p.Exe != "/bin/job" || p.PPID != 300 || p.CgroupID != 7 || p.Service != "job" {
		t.Errorf("exited process: %+v", p)
	}

	// Unknown and gone: unchanged.
	p = event.Process{PID: 999, TID: 999, Comm: "gone"}
	tab.Fill(&p)
	if !reflect.DeepEqual(p, event.Process{PID: 999, TID: 999, Comm: "gone"}) {
		t.Errorf("gone process changed: %+v", p)
	}
	if tab.Len() != 2 {
		t.Errorf("Len = %d, want 2", tab.Len())
	}
}

// TestTableNoAliasing checks that neither the caller's slices nor the
// table's are shared: events may be held and modified long after.
func TestTableNoAliasing(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: t.TempDir()})
	args := []string{"a", "b"}
	tab.Exec(event.Process{PID: 1, Comm: "init", Args: args}, 0)
	tab.Exec(event.Process{PID: 2, PPID: 1, Comm: "c", Args: []string{"c"}}, 0)
	args[0] = "caller reused its buffer"

	p, _ := tab.Lookup(1)
	p.Args[1] = "changed by a consumer"
	anc := tab.Ancestors(2, 0)
	anc[0].Args[0] = "changed by a consumer"
	filled := event.Process{PID: 1}
	tab.Fill(&filled)
	filled.Args[0] = "changed by a consumer"
	tab.Fork(1, 3, 0)
	if c, _ := tab.Lookup(3); len(c.Args) > 0 {
		c.Args[0] = "changed by a consumer"
	}

	for _, pid := range []uint32{1, 3} {
		if p, _ := tab.Lookup(pid); !slices.Equal(p.Args, []string{"a", "b"}) {
			t.Errorf("pid %d args = %q, want [a b]", pid, p.Args)
		}
	}
}

func TestTableConcurrent(t *testing.T) {
	tab := NewTable(TableOptions{ProcRoot: fakeHost(t), MaxEntries: 256})
	if err := tab.Seed(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			base := uint32(10_000 * (w + 1))
			for i := range uint32(2000) {
				pid := base + i
				tab.Fork(100, pid, uint64(i+1))
				tab.Exec(event.Process{PID: pid, Comm: "w", Exe: "/bin/w", Args: []string{"w"}, CgroupID: uint64(w)}, 0)
				tab.Exit(pid, uint64(i))
				if i%100 == 0 {
					tab.Sweep(uint64(i))
				}
			}
		})
		wg.Go(func() {
			for i := range uint32(2000) {
				pid := uint32(10_000*(w+1)) + i
				tab.Lookup(pid)
				tab.Ancestors(pid, 0)
				p := event.Process{PID: pid}
				tab.Fill(&p)
				tab.Len()
			}
		})
	}
	wg.Wait()
	if n := tab.Len(); n > 256 {
		t.Errorf("Len = %d, above MaxEntries", n)
	}
}

// On hybrid hosts the container of a {v2 cgroup, memory cgroup} pair is
// cached: a process gone before its exec is handled still gets it, and a
// process in the same v2 cgroup but another memory cgroup does not.
func TestExecInCgroupCachesPairsOnHybridHosts(t *testing.T) {
	root := t.TempDir()
	writeFakeProc(t, root, fakeProc{pid: 10, ppid: 1, comm: "app", exe: "/app", args: []string{"app"},
		cgroup: "4:memory:/docker/" + dockerID + "\n0::/\n"})
	tab := NewTable(TableOptions{ProcRoot: root})
	tab.ExecInCgroup(event.Process{PID: 10, Comm: "app", Exe: "/app", Args: []string{"app"}, CgroupID: 1}, 1, 500)
	if p, _ := tab.Lookup(10); p.ContainerID != dockerID {
		t.Fatalf("live process: container %q", p.ContainerID)
	}
	// pid 11 is not in the fake procfs: gone before its exec was handled.
	tab.ExecInCgroup(event.Process{PID: 11, Comm: "app", Exe: "/app", Args: []string{"app"}, CgroupID: 1}, 2, 500)
	if p, _ := tab.Lookup(11); p.ContainerID != dockerID {
		t.Errorf("gone process, same pair: container %q", p.ContainerID)
	}
	tab.ExecInCgroup(event.Process{PID: 12, Comm: "host", Exe: "/host", Args: []string{"host"}, CgroupID: 1}, 3, 600)
	if p, _ := tab.Lookup(12); p.ContainerID != "" {
		t.Errorf("other memory cgroup: container %q", p.ContainerID)
	}
}
