// Package e2e runs the vigil binary as a user would and checks what it
// prints, serves and leaves behind.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

var vigilBin, goServerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vigilBin = filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", vigilBin, "../../cmd/vigil")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build vigil:", err)
		os.Exit(1)
	}
	goServerBin = filepath.Join(dir, "goserver")
	build = exec.Command("go", "build", "-o", goServerBin, "./servers/goserver")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build goserver:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// vigilProc is a running vigil command.
type vigilProc struct {
	t   *testing.T
	cmd *exec.Cmd
	// vigil is the vigil process: cmd's, or the child of the command
	// cmd runs it under (startVigilUnder).
	vigil *os.Process
	// wrapped: vigil runs under the command cmd starts (startVigilUnder).
	wrapped bool
	// stderrR is the read end of vigil's stderr, which stderr collects.
	stderrR *os.File
	stdout  *bufio.Scanner // lines of stdoutR
	// stdoutR is the read end of vigil's stdout: what vigil wrote can be
	// read after it exited.
	stdoutR *os.File
	stderr  *lineLog
	progs   []ebpf.ProgramID
}

// lineLog collects every stderr line, so that vigil never blocks on a full
// stderr pipe, and lets a test wait for one containing a string.
type lineLog struct {
	mu     sync.Mutex
	all    []string
	closed bool          // the pipe reached EOF
	added  chan struct{} // receives after each line and at EOF
}

func (l *lineLog) collect(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		l.mu.Unlock()
		l.notify()
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.notify()
}

func (l *lineLog) notify() {
	select {
	case l.added <- struct{}{}:
	default:
	}
}

// waitClosed waits up to d for stderr to reach EOF.
func (l *lineLog) waitClosed(d time.Duration) {
	deadline := time.After(d)
	for {
		if _, closed := l.lines(); closed {
			return
		}
		select {
		case <-l.added:
		case <-deadline:
			return
		}
	}
}

// lines returns the lines so far and whether stderr is closed.
func (l *lineLog) lines() ([]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all), l.closed
}

func (l *lineLog) String() string {
	all, _ := l.lines()
	return strings.Join(all, "\n")
}

func startVigil(t *testing.T, readyLine string, args ...string) *vigilProc {
	t.Helper()
	return startVigilEnv(t, nil, readyLine, args...)
}

// startVigilEnv starts vigil with env added to this process's environment
// and waits for readyLine on its stderr.
func startVigilEnv(t *testing.T, env []string, readyLine string, args ...string) *vigilProc {
	t.Helper()
	return startVigilUnder(t, nil, env, readyLine, args...)
}

// startVigilUnder is startVigilEnv with vigil run by the command wrap
// (nil: none), as in `unshare --pid --fork vigil ...`, which must run vigil
// as its only child.
func startVigilUnder(t *testing.T, wrap []string, env []string, readyLine string, args ...string) *vigilProc {
	t.Helper()
	bpftest.Require(t)
	v := spawnVigil(t, wrap, env, args...)
	v.waitReady(readyLine)
	return v
}

// spawnVigil starts vigil, under wrap (nil: none), with env added to this
// process's environment, collecting its stderr; it is killed when the test
// ends if still running.
func spawnVigil(t *testing.T, wrap []string, env []string, args ...string) *vigilProc {
	t.Helper()
	argv := append(slices.Clone(wrap), vigilBin)
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	// Pipes of the test's own, not exec's StdoutPipe and StderrPipe,
	// which Wait closes: what vigil wrote stays readable after it exited.
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close(); errPipe.Close() })
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close() // vigil has its copies: EOF comes when it exits
	errW.Close()
	if err != nil {
		t.Fatal(err)
	}
	v := &vigilProc{t: t, cmd: cmd, vigil: cmd.Process, wrapped: wrap != nil, stdout: bufio.NewScanner(out), stdoutR: out, stderrR: errPipe, stderr: &lineLog{added: make(chan struct{}, 1)}}
	v.stdout.Buffer(make([]byte, 1<<20), 1<<20)
	go v.stderr.collect(errPipe)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return v
}

// waitReady waits up to 15 s for readyLine on vigil's stderr, then notes
// the vigil process (under a wrapper, its only child) and the BPF
// programs it holds.
func (v *vigilProc) waitReady(readyLine string) {
	t, cmd, args := v.t, v.cmd, v.cmd.Args[1:]
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		all, closed := v.stderr.lines()
		if slices.ContainsFunc(all, func(l string) bool { return strings.Contains(l, readyLine) }) {
			if v.wrapped {
				v.vigil = onlyChild(t, cmd.Process.Pid)
			}
			v.progs = programsOf(t, v.vigil.Pid)
			if len(v.progs) == 0 {
				t.Fatalf("vigil is ready but holds no BPF program")
			}
			return
		}
		if closed {
			t.Fatalf("vigil %v exited before %q; stderr: %s", args, readyLine, v.stderr)
		}
		select {
		case <-v.stderr.added:
		case <-deadline:
			t.Fatalf("vigil %v: no %q within 15s; stderr: %s", args, readyLine, v.stderr)
		}
	}
}

// stdoutLines reads vigil's stdout until it closes, so that vigil never
// blocks on a full pipe, and hands on up to 65536 lines not yet taken;
// beyond, lines are skipped. The channel closes with stdout.
func (v *vigilProc) stdoutLines() <-chan string {
	lines := make(chan string, 1<<16)
	go func() {
		for v.stdout.Scan() {
			select {
			case lines <- v.stdout.Text():
			default:
			}
		}
		close(lines)
	}()
	return lines
}

// stop sends SIGTERM and checks vigil exits 0 within 2s and leaves no
// program of its own in the kernel.
func (v *vigilProc) stop() {
	t := v.t
	t.Helper()
	start := time.Now()
	if err := v.vigil.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- v.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("vigil after SIGTERM: %v; stderr: %s", err, v.stderr)
		}
	case <-time.After(2 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine's stack:
		// what the shutdown is waiting for.
		v.vigil.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			v.cmd.Process.Kill()
			<-done
		}
		v.stderr.waitClosed(2 * time.Second) // the whole dump
		t.Fatalf("vigil did not exit within 2s of SIGTERM; stderr, with the stacks of its goroutines:\n%s", stuckSummary(v.stderr))
	}
	t.Logf("vigil exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	gone(t, v.progs)
}

// onlyChild is the one child of process pid.
func onlyChild(t *testing.T, pid int) *os.Process {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("process %d has children %q, want one", pid, f)
	}
	child, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.FindProcess(child)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stuckSummary keeps vigil's log lines and, of the goroutine dump SIGQUIT
// printed, the goroutines with frames outside the Go runtime, each with its
// state and innermost such frames: enough to see what a shutdown waits for.
func stuckSummary(l *lineLog) string {
	all, _ := l.lines()
	var out, block []string
	kept := 0         // frames kept in block
	keepFile := false // the frame above was kept: keep its file:line too
	inStack := false  // between a "goroutine N [state]:" line and the blank line after its stack
	endBlock := func() {
		if kept > 0 {
			out = append(out, block...)
		}
		block, kept, inStack = nil, 0, false
	}
	for _, line := range all {
		switch {
		case strings.HasPrefix(line, "goroutine "):
			endBlock()
			block, inStack = []string{line}, true
		case !inStack:
			out = append(out, line) // a log line
		case line == "":
			endBlock()
		case strings.HasPrefix(line, "\t"): // the file:line of the frame above
			if keepFile {
				block = append(block, line)
			}
		default: // a frame's function, or "created by" one
			fn := strings.TrimPrefix(line, "created by ")
			runtime := strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime/")
			keepFile = kept < 4 && !runtime
			if keepFile {
				block = append(block, line)
				kept++
			}
		}
	}
	endBlock()
	return strings.Join(out, "\n")
}

// programsOf lists the BPF program ids process pid holds.
func programsOf(t *testing.T, pid int) []ebpf.ProgramID {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.ProgramID
	for _, fd := range fds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				ids = append(ids, ebpf.ProgramID(n))
			}
		}
	}
	return ids
}

type jsonEvent struct {
	Time    string `json:"time"`
	Kind    string `json:"kind"`
	Process struct {
		PID      uint32   `json:"pid"`
		TID      uint32   `json:"tid"`
		PPID     uint32   `json:"ppid"`
		UID      *uint32  `json:"uid"`
		GID      *uint32  `json:"gid"`
		Comm     string   `json:"comm"`
		Exe      string   `json:"exe"`
		Args     []string `json:"args"`
		Cwd      string   `json:"cwd"`
		CgroupID uint64   `json:"cgroup_id"`
		Service  string   `json:"service"`
	} `json:"process"`
	Ancestors []struct {
		PID  uint32   `json:"pid"`
		Comm string   `json:"comm"`
		Exe  string   `json:"exe"`
		Args []string `json:"args"`
	} `json:"ancestors"`
	Filename   string `json:"filename"`
	ExitCode   *int   `json:"exit_code"`
	Signal     *int   `json:"signal"`
	DurationNs uint64 `json:"duration_ns"`
	ChildPID   uint32 `json:"child_pid"`
}

func TestTraceJSONShowsMarkedChild(t *testing.T) {
	v := startVigil(t, "tracing", "trace", "--json", "--kind", "exec,exit")
	marker := fmt.Sprintf("vigil-e2e-%d", time.Now().UnixNano())
	child := exec.Command("/bin/sh", "-c", "exit 3", marker)
	child.Dir = t.TempDir()
	_ = child.Run()
	if child.ProcessState.ExitCode() != 3 {
		t.Fatalf("child exit code %d", child.ProcessState.ExitCode())
	}
	pid := uint32(child.Process.Pid)

	var execEv, exitEv *jsonEvent
	lines := v.stdoutLines()
	timeout := time.After(10 * time.Second)
	for exitEv == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("vigil closed stdout")
			}
			var ev jsonEvent
			dec := json.NewDecoder(strings.NewReader(l))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("line is not one event object: %v: %s", err, l)
			}
			if ev.Kind != "exec" && ev.Kind != "exit" {
				t.Fatalf("--kind exec,exit let through %q", ev.Kind)
			}
			if _, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil {
				t.Errorf("time %q: %v", ev.Time, err)
			}
			if ev.Process.PID != pid {
				continue
			}
			if ev.Kind == "exec" {
				execEv = &ev
			} else {
				exitEv = &ev
			}
		case <-timeout:
			t.Fatal("no exit event for the marked child within 10s")
		}
	}
	if execEv == nil {
		t.Fatal("exit without exec for the marked child")
	}
	if want := []string{"/bin/sh", "-c", "exit 3", marker}; !slices.Equal(execEv.Process.Args, want) {
		t.Errorf("exec args: want %q, got %q", want, execEv.Process.Args)
	}
	if execEv.Process.PPID != uint32(os.Getpid()) || execEv.Process.Comm != "sh" || execEv.Filename != "/bin/sh" ||
		execEv.Process.UID == nil || execEv.Process.CgroupID == 0 || execEv.Process.Service == "" || execEv.Process.Cwd == "" {
		t.Errorf("exec process fields incomplete: %+v filename %q", execEv.Process, execEv.Filename)
	}
	if len(execEv.Ancestors) == 0 || execEv.Ancestors[0].PID != uint32(os.Getpid()) {
		t.Errorf("ancestors: want this test (%d) first, got %+v", os.Getpid(), execEv.Ancestors)
	}
	if exitEv.ExitCode == nil || *exitEv.ExitCode != 3 || exitEv.Signal == nil || *exitEv.Signal != 0 || exitEv.DurationNs == 0 {
		t.Errorf("exit fields: code %v signal %v duration %d", exitEv.ExitCode, exitEv.Signal, exitEv.DurationNs)
	}
	if !slices.Equal(exitEv.Process.Args, execEv.Process.Args) {
		t.Errorf("exit event's process args %q differ from exec's", exitEv.Process.Args)
	}
	v.stop()
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue finds a sample by its exact series text in Prometheus text
// exposition, e.g. `vigil_events_total{kind="exec"}`.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in /metrics", series)
	return 0
}

// TestTraceStopsWhileNobodyReadsIt: vigil trace into a pipe nobody reads
// (a paused pager) still stops within 2 s of SIGTERM and says how many
// events it could not write.
func TestTraceStopsWhileNobodyReadsIt(t *testing.T) {
	v := startVigil(t, "tracing", "trace", "--kind", "exec")
	// Each exec line carries a 1000-byte argument: 400 of them are far
	// more than the pipe holds.
	loop := `a=$(printf '%1000s' | tr ' ' x); i=0; while [ $i -lt 400 ]; do /bin/true $a; i=$((i+1)); done`
	if out, err := exec.Command("/bin/sh", "-c", loop).CombinedOutput(); err != nil {
		t.Fatalf("exec loop: %v: %s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // let the events reach the writer
	v.stop()
	if !strings.Contains(v.stderr.String(), "events not written in all") {
		t.Errorf("no count of the events not written; stderr:\n%s", v.stderr)
	}
}

func TestRunServesMetricsAndStopsClean(t *testing.T) {
	addr := freePort(t)
	v := startVigil(t, "vigil running", "run", "--listen", addr)
	base := "http://" + addr
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := httpGet(t, base+"/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never became 200")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, before := httpGet(t, base+"/metrics")
	execsBefore := metricValue(t, before, `vigil_events_total{kind="exec"}`)
	const n = 20
	for range n {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	var body string
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, body = httpGet(t, base+"/metrics")
		if metricValue(t, body, `vigil_events_total{kind="exec"}`)-execsBefore >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil_events_total{kind=\"exec\"} grew by less than %d", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lost := metricValue(t, body, `vigil_events_lost_total{source="process"}`); lost != 0 {
		t.Errorf("lost %v", lost)
	}
	for _, s := range []string{`vigil_events_dropped_total{stage="decode"}`} {
		if d := metricValue(t, body, s); d != 0 {
			t.Errorf("%s = %v", s, d)
		}
	}
	if !strings.Contains(body, "vigil_build_info{") {
		t.Error("no vigil_build_info")
	}
	// The dispatcher is attached (the HTTP and security sensors), so its
	// count of 32-bit syscalls passed over is exported.
	if !strings.Contains(body, `vigil_syscalls_unseen_total{reason="compat"} `) {
		t.Error(`no vigil_syscalls_unseen_total{reason="compat"}`)
	}
	v.stop()
}

func TestDoctorJSONIsTruthful(t *testing.T) {
	bpftest.Require(t)
	out, err := exec.Command(vigilBin, "doctor", "--json").Output()
	if err != nil {
		t.Fatalf("vigil doctor --json: %v", err)
	}
	var rep struct {
		Checks []struct {
			Name      string `json:"name"`
			Available bool   `json:"available"`
			Reason    string `json:"reason"`
		} `json:"checks"`
		CoreOK bool `json:"core_ok"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("doctor output is not JSON: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, c := range rep.Checks {
		got[c.Name] = c.Available
		if !c.Available && c.Reason == "" {
			t.Errorf("check %s unavailable without a reason", c.Name)
		}
	}
	for _, name := range []string{"tracepoint", "raw_tracepoint", "uprobe", "ringbuf"} {
		if !got[name] {
			t.Errorf("%s: want available on this kernel", name)
		}
	}
	if !rep.CoreOK {
		t.Error("core_ok false")
	}
}

// gone checks that the programs are out of the kernel, allowing for the
// RCU grace period in which it frees them.
func gone(t *testing.T, progs []ebpf.ProgramID) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for _, id := range progs {
		for {
			p, err := ebpf.NewProgramFromID(id)
			if err != nil {
				break
			}
			p.Close()
			if time.Now().After(deadline) {
				t.Errorf("program %d of vigil is still loaded after it exited", id)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
