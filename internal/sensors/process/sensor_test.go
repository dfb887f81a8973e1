package process

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
)

// collector runs a real sensor and keeps every decoded record.
type collector struct {
	t      *testing.T
	s      *Sensor
	mu     sync.Mutex
	recs   []Record
	bad    int
	done   chan struct{}
	cancel context.CancelFunc
}

func startSensor(t *testing.T, opts Options) *collector {
	t.Helper()
	return startSensorExit(t, opts, false)
}

// startSensorExit is startSensor; exitByLiveCount selects the exit
// detection of kernels before 6.16.
func startSensorExit(t *testing.T, opts Options, exitByLiveCount bool) *collector {
	t.Helper()
	bpftest.Require(t)
	leaks := bpftest.NewLeakCheck(t)
	ring, err := bpfrt.NewRing(Source, 8<<20, 4096)
	if err != nil {
		t.Fatal(err)
	}
	opts.Ring = ring
	s, err := newSensor(opts, exitByLiveCount)
	if err != nil {
		ring.Close()
		t.Fatalf("load process sensor: %v", err)
	}
	leaks.Record()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{t: t, s: s, done: make(chan struct{}), cancel: cancel}
	clock := bpfrt.NewClock()
	go func() {
		defer close(c.done)
		_ = ring.Each(ctx, func(raw []byte) { c.add(raw, clock) })
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
		if err := s.Close(); err != nil {
			t.Errorf("close sensor: %v", err)
		}
		if err := ring.Close(); err != nil {
			t.Errorf("close ring: %v", err)
		}
	})
	return c
}

// add decodes one raw record and keeps a copy of it.
func (c *collector) add(raw []byte, clock bpfrt.Clock) {
	var rec Record
	err := Decode(raw, clock, &rec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.bad++
		return
	}
	// Re-point the kind fields at this copy's own storage.
	switch {
	case rec.Event.Exec != nil:
		e := *rec.Event.Exec
		rec.Event.Exec = &e
	case rec.Event.Exit != nil:
		e := *rec.Event.Exit
		rec.Event.Exit = &e
	case rec.Event.Fork != nil:
		e := *rec.Event.Fork
		rec.Event.Fork = &e
	}
	c.recs = append(c.recs, rec)
}

// waitFor polls until cond holds over the records seen so far.
func (c *collector) waitFor(what string, cond func([]Record) bool) []Record {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		recs := slices.Clone(c.recs)
		c.mu.Unlock()
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s; saw %d records", what, len(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *collector) lost() uint64 {
	c.t.Helper()
	n, err := c.s.Lost()
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// ofPID returns the records of process pid in arrival order.
func ofPID(recs []Record, pid uint32) []Record {
	var out []Record
	for _, r := range recs {
		if r.Event.Process.PID == pid {
			out = append(out, r)
		}
	}
	return out
}

func exitOf(recs []Record, pid uint32) *Record {
	for i := range recs {
		if recs[i].Event.Kind == event.KindExit && recs[i].Event.Process.PID == pid {
			return &recs[i]
		}
	}
	return nil
}

func marker(t *testing.T) string {
	return fmt.Sprintf("vigil-test-%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
}

func TestExecExitOfMarkedChild(t *testing.T) {
	c := startSensor(t, Options{})
	// The child's cwd lies below a mount of the test's own, so the walk
	// crosses a mount point on its way to the root.
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount a tmpfs for the child's cwd: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	dir := filepath.Join(mnt, "cwd")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := marker(t)
	cmd := exec.Command("/bin/sh", "-c", "exit 3", m, "two words")
	cmd.Dir = dir
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("child: want exit status 3, got %v", err)
	}
	pid := uint32(cmd.Process.Pid)
	recs := c.waitFor("exit of the marked child", func(r []Record) bool { return exitOf(r, pid) != nil })

	mine := ofPID(recs, pid)
	var kinds []event.Kind
	for _, r := range mine {
		kinds = append(kinds, r.Event.Kind)
	}
	if !slices.Equal(kinds, []event.Kind{event.KindExec, event.KindExit}) {
		t.Fatalf("records of pid %d: want [exec exit], got %v", pid, kinds)
	}
	ex := mine[0].Event
	wantArgs := []string{"/bin/sh", "-c", "exit 3", m, "two words"}
	if !slices.Equal(ex.Process.Args, wantArgs) {
		t.Errorf("args: want %q, got %q", wantArgs, ex.Process.Args)
	}
	realSh, _ := filepath.EvalSymlinks("/bin/sh")
	if ex.Process.Exe != realSh {
		t.Errorf("exe: want %q (resolved /bin/sh), got %q", realSh, ex.Process.Exe)
	}
	if ex.Exec.Filename != "/bin/sh" {
		t.Errorf("filename: want /bin/sh, got %q", ex.Exec.Filename)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	if ex.Process.Cwd != realDir {
		t.Errorf("cwd: want %q, got %q", realDir, ex.Process.Cwd)
	}
	if ex.Process.PPID != uint32(os.Getpid()) || ex.Process.TID != pid {
		t.Errorf("ppid/tid: want %d/%d, got %d/%d", os.Getpid(), pid, ex.Process.PPID, ex.Process.TID)
	}
	if ex.Process.UID != uint32(os.Getuid()) || ex.Process.GID != uint32(os.Getgid()) {
		t.Errorf("uid/gid: want %d/%d, got %d/%d", os.Getuid(), os.Getgid(), ex.Process.UID, ex.Process.GID)
	}
	if ex.Process.Comm != "sh" || ex.Process.CgroupID == 0 || ex.Exec.ArgsTruncated {
		t.Errorf("comm %q cgroup %d truncated %v", ex.Process.Comm, ex.Process.CgroupID, ex.Exec.ArgsTruncated)
	}
	x := mine[1]
	if x.Event.Exit.ExitCode != 3 || x.Event.Exit.Signal != 0 {
		t.Errorf("exit: want code 3 signal 0, got %+v", *x.Event.Exit)
	}
	if x.StartNs != mine[0].StartNs || x.Event.Exit.DurationNs == 0 || x.Event.Exit.DurationNs > uint64(10*time.Second) {
		t.Errorf("exit start %d (exec start %d), duration %d", x.StartNs, mine[0].StartNs, x.Event.Exit.DurationNs)
	}
	// The fork that created the child came from this test process, first.
	forkIdx := slices.IndexFunc(recs, func(r Record) bool { return r.Event.Kind == event.KindFork && r.Event.Fork.ChildPID == pid })
	execIdx := slices.IndexFunc(recs, func(r Record) bool { return r.Event.Kind == event.KindExec && r.Event.Process.PID == pid })
	if forkIdx < 0 || forkIdx > execIdx {
		t.Errorf("fork of %d: index %d, exec index %d", pid, forkIdx, execIdx)
	} else if f := recs[forkIdx].Event; f.Process.PID != uint32(os.Getpid()) || recs[forkIdx].StartNs != mine[0].StartNs {
		t.Errorf("fork record: parent %d (want %d), child start %d (exec start %d)", f.Process.PID, os.Getpid(), recs[forkIdx].StartNs, mine[0].StartNs)
	}
	if n := c.lost(); n != 0 {
		t.Errorf("kernel lost %d records", n)
	}
}

func TestForkExecParentage(t *testing.T) {
	c := startSensor(t, Options{})
	m := marker(t)
	// sh forks a child that execs echo, then exits 0 itself.
	cmd := exec.Command("/bin/sh", "-c", "/bin/echo "+m+" >/dev/null; exit 0")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	shPID := uint32(cmd.Process.Pid)
	recs := c.waitFor("exit of sh", func(r []Record) bool { return exitOf(r, shPID) != nil })

	var echo *Record
	for i, r := range recs {
		if r.Event.Kind == event.KindExec && slices.Equal(r.Event.Process.Args, []string{"/bin/echo", m}) {
			echo = &recs[i]
		}
	}
	if echo == nil {
		t.Fatalf("no exec of /bin/echo %s", m)
	}
	echoPID := echo.Event.Process.PID
	if echo.Event.Process.PPID != shPID {
		t.Errorf("echo ppid: want %d, got %d", shPID, echo.Event.Process.PPID)
	}
	forkIdx := slices.IndexFunc(recs, func(r Record) bool {
		return r.Event.Kind == event.KindFork && r.Event.Process.PID == shPID && r.Event.Fork.ChildPID == echoPID
	})
	echoExit := exitOf(recs, echoPID)
	if forkIdx < 0 || echoExit == nil || echoExit.Event.Exit.ExitCode != 0 {
		t.Fatalf("fork index %d, echo exit %+v", forkIdx, echoExit)
	}
	// Order: fork(sh->echo) < exec(echo) < exit(echo) < exit(sh).
	idx := func(r *Record) int {
		return slices.IndexFunc(recs, func(x Record) bool {
			return &x != r && x.Event.Kind == r.Event.Kind && x.Event.Process.PID == r.Event.Process.PID && x.Event.Time.Equal(r.Event.Time)
		})
	}
	order := []int{forkIdx, idx(echo), idx(echoExit), idx(exitOf(recs, shPID))}
	if !slices.IsSorted(order) {
		t.Errorf("events out of order: indexes %v", order)
	}
}

func TestExitBySignal(t *testing.T) {
	c := startSensor(t, Options{})
	cmd := exec.Command("/bin/sh", "-c", "kill -9 $$", marker(t))
	_ = cmd.Run()
	pid := uint32(cmd.Process.Pid)
	recs := c.waitFor("exit", func(r []Record) bool { return exitOf(r, pid) != nil })
	x := exitOf(recs, pid).Event.Exit
	if x.Signal != 9 || x.ExitCode != 0 {
		t.Errorf("want signal 9, got %+v", *x)
	}
}

// TestMain doubles as a helper process: the threads test re-executes the
// test binary, which then starts OS threads and exits with status 7.
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_TEST_HELPER") == "threads" {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread() // keep a thread per goroutine
				time.Sleep(50 * time.Millisecond)
			}()
		}
		wg.Wait()
		os.Exit(7)
	}
	os.Exit(m.Run())
}

func TestThreadsAreNotProcesses(t *testing.T) {
	t.Run("group_dead", func(t *testing.T) { testThreadsAreNotProcesses(t, false) })
	// Kernels before 6.16 have no group_dead in the tracepoint.
	t.Run("live_count", func(t *testing.T) { testThreadsAreNotProcesses(t, true) })
}

func testThreadsAreNotProcesses(t *testing.T, exitByLiveCount bool) {
	c := startSensorExit(t, Options{}, exitByLiveCount)
	cmd := exec.Command("/proc/self/exe", "-test.run=^$", marker(t))
	cmd.Env = append(os.Environ(), "VIGIL_TEST_HELPER=threads")
	_ = cmd.Run()
	pid := uint32(cmd.Process.Pid)
	c.waitFor("exit", func(r []Record) bool { return exitOf(r, pid) != nil })
	time.Sleep(100 * time.Millisecond) // a stray second exit would come right after
	recs := c.waitFor("exit", func(r []Record) bool { return true })
	var exits, forks int
	for _, r := range recs {
		if r.Event.Kind == event.KindExit && r.Event.Process.PID == pid {
			exits++
		}
		if r.Event.Kind == event.KindFork && r.Event.Process.PID == pid {
			forks++
		}
	}
	// The Go runtime starts at least the 8 locked threads plus its own.
	if exits != 1 || forks != 0 {
		t.Errorf("helper with 8+ threads: want 1 exit and 0 forks, got %d exits, %d forks", exits, forks)
	}
	if x := exitOf(recs, pid).Event.Exit; x.ExitCode != 7 {
		t.Errorf("exit code: want 7, got %d", x.ExitCode)
	}
}

func TestLongArgvIsTruncatedAndFlagged(t *testing.T) {
	c := startSensor(t, Options{})
	long := strings.Repeat("x", 3000)
	args := []string{marker(t), long, long}
	cmd := exec.Command("/bin/true", args...)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	recs := c.waitFor("exit", func(r []Record) bool { return exitOf(r, pid) != nil })
	ex := ofPID(recs, pid)[0].Event
	if ex.Kind != event.KindExec || !ex.Exec.ArgsTruncated {
		t.Fatalf("want a truncated exec, got %s truncated=%v", ex.Kind, ex.Exec != nil && ex.Exec.ArgsTruncated)
	}
	got := strings.Join(ex.Process.Args, "\x00")
	want := strings.Join(append([]string{"/bin/true"}, args...), "\x00")
	if len(got) != 4095 || !strings.HasPrefix(want, got) {
		t.Errorf("truncated argv: %d bytes, prefix of the real argv: %v", len(got), strings.HasPrefix(want, got))
	}
}

// TestBurstIsComplete runs many short-lived processes from two goroutines
// and checks every one is seen complete: exec with the exact argv, then
// exit with status 0, and nothing lost.
func TestBurstIsComplete(t *testing.T) {
	c := startSensor(t, Options{})
	const perWorker = 250
	m := marker(t)
	var mu sync.Mutex
	pids := map[uint32]string{}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				arg := fmt.Sprintf("%s-%d-%d", m, w, i)
				cmd := exec.Command("/bin/true", arg)
				if err := cmd.Run(); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				pids[uint32(cmd.Process.Pid)] = arg
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	recs := c.waitFor("every burst exit", func(r []Record) bool {
		n := 0
		for _, x := range r {
			if x.Event.Kind == event.KindExit {
				if _, ok := pids[x.Event.Process.PID]; ok {
					n++
				}
			}
		}
		return n == len(pids)
	})
	for pid, arg := range pids {
		mine := ofPID(recs, pid)
		if len(mine) != 2 || mine[0].Event.Kind != event.KindExec || mine[1].Event.Kind != event.KindExit {
			t.Errorf("pid %d: want [exec exit], got %d records", pid, len(mine))
			continue
		}
		if !slices.Equal(mine[0].Event.Process.Args, []string{"/bin/true", arg}) || mine[1].Event.Exit.ExitCode != 0 {
			t.Errorf("pid %d: args %q exit %d", pid, mine[0].Event.Process.Args, mine[1].Event.Exit.ExitCode)
		}
	}
	if n := c.lost(); n != 0 {
		t.Errorf("kernel lost %d records", n)
	}
	if c.bad != 0 {
		t.Errorf("%d malformed records", c.bad)
	}
}

func TestExcludeSelfFiltersInKernel(t *testing.T) {
	c := startSensor(t, Options{ExcludeSelf: true})
	cmd := exec.Command("/bin/sh", "-c", "/bin/true", marker(t))
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	recs := c.waitFor("exit", func(r []Record) bool { return exitOf(r, pid) != nil })
	for _, r := range recs {
		if r.Event.Process.PID == uint32(os.Getpid()) {
			t.Fatalf("record of the excluded process: %s", r.Event.Kind)
		}
	}
	// The child's own events are still there.
	if k := ofPID(recs, pid)[0].Event.Kind; k != event.KindExec {
		t.Errorf("child's first record: want exec, got %s", k)
	}
}
