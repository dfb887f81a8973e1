package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/kernel"
	"github.com/vigil-dev/vigil/internal/policy"
	"github.com/vigil-dev/vigil/internal/proc"
)

// cloneSecurity deep-copies the security parts of an event into c.
func cloneSecurity(c *event.Event, ev *event.Event) {
	ptr := func(p *int64) *int64 {
		if p == nil {
			return nil
		}
		v := *p
		return &v
	}
	switch {
	case ev.File != nil:
		f := *ev.File
		f.Flags = slices.Clone(f.Flags)
		f.UID, f.GID = ptr(f.UID), ptr(f.GID)
		if f.Mode != nil {
			m := *f.Mode
			f.Mode = &m
		}
		c.File = &f
	case ev.Net != nil:
		n := *ev.Net
		if n.Local != nil {
			l := *n.Local
			n.Local = &l
		}
		if n.Peer != nil {
			p := *n.Peer
			n.Peer = &p
		}
		n.NewFD = ptr(n.NewFD)
		c.Net = &n
	case ev.Priv != nil:
		p := *ev.Priv
		p.IDs = slices.Clone(p.IDs)
		c.Priv = &p
	case ev.Alert != nil:
		a := *ev.Alert
		inner := *ev.Alert.Event
		inner.Process.Args = slices.Clone(inner.Process.Args)
		inner.Ancestors = slices.Clone(inner.Ancestors)
		cloneSecurity(&inner, ev.Alert.Event)
		if ev.Alert.Event.Exec != nil {
			x := *ev.Alert.Event.Exec
			inner.Exec = &x
		}
		a.Event = &inner
		c.Alert = &a
	}
}

// compileRules compiles a rule file's text.
func compileRules(t *testing.T, yaml string) *policy.Program {
	t.Helper()
	f, err := policy.Parse("test.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := policy.Compile(f.Rules)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// sentinelRule makes an exec of the sentinel program raise an alert: what
// happened before it in the test has then been through the pipeline.
const sentinelRule = `
  - name: sentinel
    description: the test's barrier
    severity: info
    events: [exec]
    match:
      exe: {exact: [%s]}
`

// security is an agent running rules, and the test's scratch directory.
type security struct {
	t        *testing.T
	rec      *recorder
	agent    *Agent
	dir      string
	sentinel string
}

// startSecurity runs an agent with the rules (rule list items, indented by
// two spaces under `rules:`) plus the sentinel rule, and every event of the
// emitAll kinds.
func startSecurity(t *testing.T, rules string, emitAll ...event.Kind) *security {
	t.Helper()
	bpftest.Require(t)
	dir := testDir(t)
	s := &security{t: t, dir: dir, sentinel: filepath.Join(dir, "sentinel")}
	copyFile(t, "/usr/bin/true", s.sentinel, 0o755)
	rules = strings.ReplaceAll(rules, "DIR", dir)
	prog := compileRules(t, "rules:\n"+rules+fmt.Sprintf(sentinelRule, s.sentinel))
	s.rec, s.agent = runAgent(t, Options{
		ExcludeSelf: true,
		Security:    &SecurityOptions{Program: prog, EmitAll: emitAll},
	})
	return s
}

// testDir is a scratch directory outside /tmp, where the built-in rules
// would see every exec as suspect.
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/lib", "vigil-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// sh runs a shell command line and returns its wait status.
func (s *security) sh(script string) syscall.WaitStatus {
	s.t.Helper()
	cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(script, "DIR", s.dir))
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.t.Fatalf("%s: %v", script, err)
	}
	if len(out) > 0 {
		s.t.Logf("%s: %s", script, out)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// barrier execs the sentinel and waits for its alert.
func (s *security) barrier() {
	s.t.Helper()
	cmd := exec.Command(s.sentinel)
	if err := cmd.Run(); err != nil {
		s.t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	waitFor(s.t, s.rec, "the sentinel's alert", func(e *event.Event) bool {
		return e.Kind == event.KindAlert && e.Alert.Rule == "sentinel" && e.Process.PID == pid
	})
}

// alerts returns the alerts of rule recorded so far.
func (s *security) alerts(rule string) []event.Event {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	var out []event.Event
	for _, e := range s.rec.evs {
		if e.Kind == event.KindAlert && e.Alert.Rule == rule {
			out = append(out, e)
		}
	}
	return out
}

// alertFor waits for an alert of rule whose triggering event satisfies match.
func (s *security) alertFor(rule string, match func(*event.Event) bool) *event.Event {
	s.t.Helper()
	return waitFor(s.t, s.rec, "alert "+rule, func(e *event.Event) bool {
		return e.Kind == event.KindAlert && e.Alert.Rule == rule && match(e.Alert.Event)
	})
}

// python3 is Debian's python3, which scripts/setup.sh installs: tests run
// syscalls through it that Go's runtime would not let them make.
func python3(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		bpftest.SkipOrFail(t, "Debian's python3 is not installed (scripts/setup.sh installs it)")
	}
	return py
}

func pathIs(p string) func(*event.Event) bool {
	return func(e *event.Event) bool { return e.File != nil && e.File.Path == p }
}

func TestOpenRulesSeeTheFileActuallyOpened(t *testing.T) {
	s := startSecurity(t, `
  - name: read-secret
    description: reads of the secret
    severity: high
    events: [open]
    match:
      access: [read]
      path: {exact: [DIR/secret]}
`)
	for _, f := range []string{"secret", "other", "sub/.keep"} {
		copyFile(t, "/etc/hostname", filepath.Join(s.dir, f), 0o644)
	}
	secret := filepath.Join(s.dir, "secret")

	s.sh("cat DIR/secret >/dev/null")
	a := s.alertFor("read-secret", pathIs(secret))
	if a.Process.Exe != "/usr/bin/cat" || len(a.Ancestors) == 0 || !strings.HasSuffix(a.Ancestors[0].Exe, "sh") {
		t.Errorf("alert process %s, ancestors %+v: want cat started by the shell", a.Process.Exe, a.Ancestors)
	}
	ev := a.Alert.Event
	if ev.File.Access != "read" || ev.File.Result < 0 || a.Alert.Action != event.ActionAlert || a.Alert.Severity != "high" {
		t.Errorf("alert %+v of event %+v", a.Alert, ev.File)
	}

	// Relative, with "..", and through a symlink: all the same file.
	s.sh("cd DIR/sub && cat ../secret >/dev/null")
	s.sh("ln -s DIR/secret DIR/link && cat DIR/link >/dev/null")
	// Benign twins: another file, and a write (the rule is about reads).
	s.sh("cat DIR/other >/dev/null")
	s.sh("echo x >> DIR/secret")
	s.barrier()
	if n := len(s.alerts("read-secret")); n != 3 {
		for _, e := range s.alerts("read-secret") {
			t.Logf("alert: %s %s %s", e.Process.Exe, e.Alert.Event.File.Path, e.Alert.Event.File.Access)
		}
		t.Errorf("%d read-secret alerts, want 3 (direct, relative, symlink)", n)
	}
}

func TestKillStopsTheWriteAfterTheOpen(t *testing.T) {
	s := startSecurity(t, `
  - name: protect
    description: nothing writes below protected/
    severity: critical
    events: [open]
    match:
      access: [write]
      path: {prefix: [DIR/protected/]}
    action: kill
`)
	os.MkdirAll(filepath.Join(s.dir, "protected"), 0o755)
	os.MkdirAll(filepath.Join(s.dir, "free"), 0o755)

	st := s.sh("echo hacked > DIR/protected/f; touch DIR/after")
	if !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Errorf("shell status %v: want killed by SIGKILL", st)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "protected/f"))
	if err != nil || len(b) != 0 {
		t.Errorf("protected/f: %q, %v: want created by the open, and empty", b, err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "after")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the shell went on after the kill: %v", err)
	}
	a := s.alertFor("protect", pathIs(filepath.Join(s.dir, "protected/f")))
	if a.Alert.Action != event.ActionKill {
		t.Errorf("action %q, want kill", a.Alert.Action)
	}

	// The benign twin is not touched.
	if st := s.sh("echo fine > DIR/free/f"); st.ExitStatus() != 0 {
		t.Errorf("write outside protected/: status %v", st)
	}
	if b, _ := os.ReadFile(filepath.Join(s.dir, "free/f")); string(b) != "fine\n" {
		t.Errorf("free/f = %q", b)
	}
}

func TestKillAtExecBeforeTheFirstInstruction(t *testing.T) {
	s := startSecurity(t, `
  - name: no-dropped-binaries
    description: nothing runs from bin/
    severity: critical
    events: [exec]
    match:
      exe: {prefix: [DIR/bin/]}
    action: kill
`)
	copyFile(t, "/usr/bin/touch", filepath.Join(s.dir, "bin/touch"), 0o755)
	cmd := exec.Command(filepath.Join(s.dir, "bin/touch"), filepath.Join(s.dir, "marker"))
	err := cmd.Run()
	st, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Errorf("dropped touch: %v (status %v), want killed", err, st)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "marker")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed binary still did its work: %v", err)
	}
	a := s.alertFor("no-dropped-binaries", func(e *event.Event) bool { return e.Kind == event.KindExec })
	if a.Alert.Action != event.ActionKill || a.Process.PID != uint32(cmd.Process.Pid) {
		t.Errorf("alert %+v for pid %d, want kill of %d", a.Alert, a.Process.PID, cmd.Process.Pid)
	}
	// The same binary from its real place runs.
	if err := exec.Command("/usr/bin/touch", filepath.Join(s.dir, "marker2")).Run(); err != nil {
		t.Errorf("touch: %v", err)
	}
}

// TestFileKindsAtEntry covers the calls seen by their lexical path, every
// kind with its fields, including the path folding.
func TestFileKindsAtEntry(t *testing.T) {
	s := startSecurity(t, `
  - name: files
    description: everything below the scratch directory
    severity: info
    events: [unlink, rename, link, symlink, chmod, chown]
    match:
      path: {prefix: [DIR/w/]}
`)
	w := filepath.Join(s.dir, "w")
	os.MkdirAll(filepath.Join(w, "d/e"), 0o755)
	for _, f := range []string{"x", "y", "c"} {
		copyFile(t, "/etc/hostname", filepath.Join(w, f), 0o644)
	}
	s.sh(`cd DIR/w/d && rm ../d/../x && mv ../y ../z && ln ../z ../h && ln -s z ../s && chmod 4755 ../h && chown 7:8 ../c && rmdir e && rm DIR/w/missing`)
	s.barrier()

	type want struct {
		kind         event.Kind
		path, second string
		result       int64
	}
	for _, w := range []want{
		{event.KindUnlink, w + "/x", "", 0},
		{event.KindRename, w + "/y", w + "/z", 0},
		{event.KindLink, w + "/h", w + "/z", 0},
		{event.KindSymlink, w + "/s", w + "/z", 0},
		{event.KindChmod, w + "/h", "", 0},
		{event.KindChown, w + "/c", "", 0},
		{event.KindUnlink, w + "/d/e", "", 0},
		{event.KindUnlink, w + "/missing", "", -int64(syscall.ENOENT)},
	} {
		a := s.alertFor("files", func(e *event.Event) bool { return e.Kind == w.kind && e.File.Path == w.path })
		f := a.Alert.Event.File
		second := f.NewPath + f.Target
		if second != w.second || f.Result != w.result {
			t.Errorf("%s %s: second path %q (want %q), result %d (want %d)", w.kind, w.path, second, w.second, f.Result, w.result)
		}
		switch w.kind {
		case event.KindChmod:
			if f.Mode == nil || *f.Mode != 04755 {
				t.Errorf("chmod mode %v, want 04755", f.Mode)
			}
		case event.KindChown:
			if f.UID == nil || *f.UID != 7 || f.GID == nil || *f.GID != 8 {
				t.Errorf("chown %v:%v, want 7:8", f.UID, f.GID)
			}
		}
		if strings.HasSuffix(w.path, "/d/e") != f.Dir {
			t.Errorf("%s: dir %v", w.path, f.Dir)
		}
	}
	if n := len(s.alerts("files")); n != 8 {
		t.Errorf("%d alerts, want 8", n)
	}
}

func TestDenyConnectFailsWithEPERM(t *testing.T) {
	if _, err := kernel.Cgroup2Path(); err != nil {
		bpftest.SkipOrFail(t, "no cgroup v2 mount: "+err.Error())
	}
	denied, allowed := acceptor(t), acceptor(t)
	s := startSecurity(t, fmt.Sprintf(`
  - name: no-port
    description: nothing connects to the denied port
    severity: high
    events: [connect]
    match:
      destination: {cidr: [127.0.0.0/8], ports: [%d]}
    action: deny
`, denied))
	connect := func(port int) string {
		out, _ := exec.Command("python3", "-c", fmt.Sprintf(`
import socket
s = socket.socket()
try:
    s.connect(("127.0.0.1", %d))
    print("ok")
except OSError as e:
    print("errno", e.errno)
`, port)).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	if got := connect(denied); got != fmt.Sprintf("errno %d", syscall.EPERM) {
		t.Errorf("connect to the denied port: %q, want errno %d (EPERM)", got, syscall.EPERM)
	}
	if got := connect(allowed); got != "ok" {
		t.Errorf("connect to another port: %q, want ok", got)
	}
	a := s.alertFor("no-port", func(e *event.Event) bool {
		return e.Kind == event.KindConnect && e.Net.Peer != nil && e.Net.Peer.Port == uint16(denied)
	})
	if a.Alert.Action != event.ActionDeny || a.Alert.Event.Net.Peer.Addr != "127.0.0.1" {
		t.Errorf("alert %+v, peer %+v: want deny of 127.0.0.1", a.Alert, a.Alert.Event.Net.Peer)
	}
	s.barrier()
	if n := len(s.alerts("no-port")); n != 1 {
		t.Errorf("%d alerts, want 1", n)
	}
}

// acceptor opens a loopback listener that accepts and closes, and returns
// its port.
func acceptor(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestNetworkAndPrivilegeKinds makes a real python3 do one of each call and
// checks every event's fields, emitted whole (vigil trace --kind ...).
func TestNetworkAndPrivilegeKinds(t *testing.T) {
	py := python3(t)
	kinds := []event.Kind{event.KindConnect, event.KindAccept, event.KindBind, event.KindListen, event.KindSocket,
		event.KindDup, event.KindSetuid, event.KindSetgid, event.KindPtrace, event.KindMemfd}
	s := startSecurity(t, "", kinds...)
	script := `
import ctypes, os, socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
c = socket.socket()
c.connect(("127.0.0.1", port))
conn, _ = srv.accept()
os.dup2(c.fileno(), 2)
os.setresuid(-1, 0, -1)
os.setgid(0)
os.memfd_create("vigil-test", os.MFD_CLOEXEC)
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace(16, os.getpid(), 0, 0)  # PTRACE_ATTACH to itself: EPERM, still a call
p = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
print(port, flush=True)
`
	cmd := exec.Command(py, "-c", script)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	pid := uint32(cmd.Process.Pid)
	var port int
	fmt.Sscan(string(out), &port)
	of := func(kind event.Kind, match func(*event.Event) bool) *event.Event {
		return waitFor(t, s.rec, string(kind)+" event", func(e *event.Event) bool {
			return e.Kind == kind && e.Process.PID == pid && (match == nil || match(e))
		})
	}
	succeeded := func(e *event.Event, what string) {
		var r int64
		switch {
		case e.Net != nil:
			r = e.Net.Result
		case e.Priv != nil:
			r = e.Priv.Result
		}
		if r < 0 {
			t.Errorf("%s: result %d, want success", what, r)
		}
	}
	bind := of(event.KindBind, nil)
	if bind.Net.Local == nil || bind.Net.Local.Addr != "127.0.0.1" || bind.Net.Family != "AF_INET" {
		t.Errorf("bind %+v", bind.Net)
	}
	succeeded(bind, "bind")
	listenEv := of(event.KindListen, nil)
	if listenEv.Net.Local == nil || int(listenEv.Net.Local.Port) != port {
		t.Errorf("listen local %+v, want port %d", listenEv.Net.Local, port)
	}
	conn := of(event.KindConnect, func(e *event.Event) bool { return e.Net.Peer != nil && int(e.Net.Peer.Port) == port })
	if conn.Net.Type != "SOCK_STREAM" || conn.Net.Result != 0 {
		t.Errorf("connect %+v result %v", conn.Net, conn.Net.Result)
	}
	acc := of(event.KindAccept, nil)
	if acc.Net.Local == nil || int(acc.Net.Local.Port) != port || acc.Net.Peer == nil || acc.Net.Peer.Addr != "127.0.0.1" {
		t.Errorf("accept %+v", acc.Net)
	}
	dup := of(event.KindDup, nil)
	if dup.Net.NewFD == nil || *dup.Net.NewFD != 2 || dup.Net.Peer == nil || int(dup.Net.Peer.Port) != port {
		t.Errorf("dup %+v", dup.Net)
	}
	pkt := of(event.KindSocket, func(e *event.Event) bool { return e.Net.Family == "AF_PACKET" })
	if pkt.Net.Type != "SOCK_RAW" {
		t.Errorf("packet socket type %q", pkt.Net.Type)
	}
	uid := of(event.KindSetuid, nil)
	if uid.Priv.Syscall != "setresuid" || !slices.Equal(uid.Priv.IDs, []int64{-1, 0, -1}) {
		t.Errorf("setuid %+v", uid.Priv)
	}
	succeeded(uid, "setresuid")
	gid := of(event.KindSetgid, nil)
	if gid.Priv.Syscall != "setgid" || !slices.Equal(gid.Priv.IDs, []int64{0, -1, -1}) {
		t.Errorf("setgid %+v", gid.Priv)
	}
	memfd := of(event.KindMemfd, nil)
	if memfd.Priv.Name != "vigil-test" || !slices.Equal(memfd.Priv.Flags, []string{"MFD_CLOEXEC"}) {
		t.Errorf("memfd %+v", memfd.Priv)
	}
	succeeded(memfd, "memfd_create")
	pt := of(event.KindPtrace, nil)
	if pt.Priv.Request != "PTRACE_ATTACH" || pt.Priv.TargetPID != pid || pt.Priv.Result >= 0 {
		t.Errorf("ptrace %+v result %v", pt.Priv, pt.Priv.Result)
	}
}

// TestKernelMasksAgreeWithGo checks the kernel's rule evaluation against
// the Go reference (policy.Program.KernelMask) on every event of a real
// workload, for rules that use every dimension the kernel evaluates.
func TestKernelMasksAgreeWithGo(t *testing.T) {
	bpftest.Require(t)
	dir := testDir(t)
	prog := compileRules(t, strings.ReplaceAll(`rules:
  - {name: exact-read, description: d, severity: low, events: [open], match: {access: [read], path: {exact: [DIR/a, DIR/sub/b]}}}
  - {name: prefix-write, description: d, severity: low, events: [open], match: {access: [write], path: {prefix: [DIR/sub/], not_prefix: [DIR/sub/skip/]}}}
  - {name: trunc, description: d, severity: low, events: [open], match: {flags: [O_TRUNC], name: {exact: [t.log]}}}
  - {name: by-cat, description: d, severity: low, events: [open], match: {exe: {exact: [/usr/bin/cat]}, path: {prefix: [DIR/]}}}
  - {name: not-cat-child-of-sh, description: d, severity: low, events: [open, unlink], match: {exe: {not_in: [/usr/bin/cat]}, parent_exe: {prefix: [/usr/bin/da, /usr/bin/ba]}, path: {prefix: [DIR/]}}}
  - {name: names, description: d, severity: low, events: [unlink, rename], match: {name: {exact: [x, y], not_in: [z]}}}
  - {name: renames-into, description: d, severity: low, events: [rename], match: {path: {prefix: [DIR/into/]}}}
  - {name: links, description: d, severity: low, events: [link, symlink], match: {target: {exact: [DIR/a]}}}
  - {name: suid, description: d, severity: low, events: [chmod], match: {mode: [S_ISUID], path: {prefix: [DIR/]}}}
  - {name: execs, description: d, severity: low, events: [exec], match: {exe: {prefix: [/usr/bin/]}, parent_exe: {not_in: [/usr/bin/bash]}}}
`, "DIR", dir))
	kinds := []event.Kind{event.KindOpen, event.KindUnlink, event.KindRename, event.KindLink, event.KindSymlink, event.KindChmod}
	type seen struct {
		kind         event.Kind
		path         string
		kernel, want uint64
	}
	var (
		got      []seen
		compared int
	)
	rec, _ := runAgent(t, Options{
		ExcludeSelf: true,
		Security:    &SecurityOptions{Program: prog, EmitAll: kinds},
	}, func(a *Agent) {
		a.sec.checkMask = func(ev *event.Event, mask uint64, flags uint8) {
			if flags&(0x4|0x10) != 0 { // undecided in the kernel: nothing to compare
				return
			}
			path := ""
			if ev.File != nil {
				path = ev.File.Path
			}
			// Only this test's activity: other processes of the node
			// have lineages the table may know better than the kernel.
			if ev.Kind != event.KindExec && !strings.HasPrefix(path, dir) {
				return
			}
			if ev.Kind == event.KindExec && !strings.HasPrefix(ev.Process.Cwd, dir) {
				return
			}
			compared++
			if want := prog.KernelMask(ev); want != mask {
				got = append(got, seen{ev.Kind, path, mask, want})
			}
		}
	})
	for _, d := range []string{"sub/skip", "into"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	for _, f := range []string{"a", "sub/b", "sub/c", "x", "y", "z", "t.log"} {
		copyFile(t, "/etc/hostname", filepath.Join(dir, f), 0o644)
	}
	script := strings.ReplaceAll(`cd DIR
cat a sub/b sub/c >/dev/null
echo 1 > sub/c; echo 2 > sub/skip/d; echo 3 > a
: > t.log; : > sub/t.log
head -c1 a >/dev/null
bash -c 'cat a >/dev/null; echo 4 >> sub/c'
rm x; mv y into/y2; mv z z2; cp a w; ln a hard; ln -s ../DIRNAME/a soft; ln -s sub/c soft2
chmod u+s w; chmod 0644 sub/c
/usr/bin/true
`, "DIRNAME", filepath.Base(dir))
	cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(script, "DIR", dir))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The exec of the sentinel-like true is the last event: wait for it.
	waitFor(t, rec, "the chmod of sub/c", func(e *event.Event) bool {
		return e.Kind == event.KindChmod && e.File.Path == filepath.Join(dir, "sub/c")
	})
	time.Sleep(200 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	t.Logf("compared %d events", compared)
	if compared < 20 {
		t.Errorf("compared only %d events", compared)
	}
	for _, s := range got {
		t.Errorf("%s %s: kernel mask %#x, Go %#x", s.kind, s.path, s.kernel, s.want)
	}
}

// TestUndecidedEventsAreDecidedInUserspace: when the kernel did not know
// the process (flag PROC_UNKNOWN, mask 0), the rules' kernel part is
// computed from the event and the table, and the alert is raised, with
// the action taken being only the alert.
func TestUndecidedEventsAreDecidedInUserspace(t *testing.T) {
	prog := compileRules(t, `rules:
  - {name: by-cat, description: d, severity: high, events: [open], match: {exe: {exact: [/usr/bin/cat]}, path: {prefix: [/srv/]}}, action: kill}
`)
	var got []event.Event
	table := proc.NewTable(proc.TableOptions{})
	s := newSecurityStage(&SecurityOptions{Program: prog}, table, 16, func(ev *event.Event) {
		got = append(got, *ev)
	})
	ev := &event.Event{Kind: event.KindOpen, Process: event.Process{PID: 1 << 30, Exe: "/usr/bin/cat"},
		File: &event.File{Path: "/srv/data"}, Ancestors: []event.Ancestor{}}
	s.alert(ev, 0, bpfpolicy.FlagProcUnknown)
	if len(got) != 1 || got[0].Alert.Rule != "by-cat" || got[0].Alert.Action != event.ActionAlert {
		t.Fatalf("alerts %+v, want one of by-cat, action alert (the kernel did not kill)", got)
	}
	got = nil
	ev.File.Path = "/etc/data"
	s.alert(ev, 0, bpfpolicy.FlagProcUnknown)
	if len(got) != 0 {
		t.Errorf("alerts %+v for a path no rule is about", got)
	}
	// Decided by the kernel with no match: nothing to do.
	ev.File.Path = "/srv/data"
	s.alert(ev, 0, 0)
	if len(got) != 0 {
		t.Errorf("alerts %+v for an event the kernel matched to no rule", got)
	}
}

// A file deeper than the kernel's dentry walk goes is reported with the
// path it could build, flagged as truncated; a shallow one is not flagged.
func TestDeepPathIsFlaggedTruncated(t *testing.T) {
	s := startSecurity(t, "", event.KindOpen)
	deep := s.dir + strings.Repeat("/d", 60)
	copyFile(t, "/etc/hostname", filepath.Join(deep, "deep-file"), 0o644)
	copyFile(t, "/etc/hostname", filepath.Join(s.dir, "shallow-file"), 0o644)
	s.sh("cat " + filepath.Join(deep, "deep-file") + " DIR/shallow-file >/dev/null")
	s.barrier()
	var sawDeep, sawShallow bool
	s.rec.mu.Lock()
	for _, e := range s.rec.evs {
		if e.Kind != event.KindOpen || e.Process.Exe != "/usr/bin/cat" {
			continue
		}
		switch f := e.File; {
		case strings.HasSuffix(f.Path, "/d/d/deep-file"):
			sawDeep = true
			if !f.PathTruncated || f.Path == filepath.Join(deep, "deep-file") {
				t.Errorf("deep open: path %q truncated %v; want the path cut at the root side, flagged", f.Path, f.PathTruncated)
			}
		case f.Path == filepath.Join(s.dir, "shallow-file"):
			sawShallow = true
			if f.PathTruncated {
				t.Errorf("shallow open %q flagged truncated", f.Path)
			}
		}
	}
	s.rec.mu.Unlock()
	if !sawDeep || !sawShallow {
		t.Errorf("open events of cat: deep %v, shallow %v; want both", sawDeep, sawShallow)
	}
}

// TestHighRegisterBitsHideNothing: the kernel reads descriptors, modes and
// commands from the low bits of their registers only (int, unsigned int,
// umode_t), so a caller may set the high bits without changing what the
// call does. The sensors must read them the same way: a dup2 of a socket
// passed as fd | 1 << 32 is still a socket over stderr, a chmod with bits
// above umode_t still sets exactly 04755, a bpf command with high bits is
// still BPF_PROG_LOAD. And a version 1 capset (one 32-bit set) reports no
// capability above 31, whatever memory follows its data.
func TestHighRegisterBitsHideNothing(t *testing.T) {
	py := python3(t)
	s := startSecurity(t, "", event.KindDup, event.KindChmod, event.KindBPF, event.KindCapset)
	target := filepath.Join(s.dir, "modes")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import ctypes, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long
HIGH = 1 << 32
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.socket(); c.connect(srv.getsockname()); conn, _ = srv.accept()
assert libc.syscall(33, L(c.fileno() | HIGH), L(2)) == 2           # dup2
assert libc.syscall(90, sys.argv[1].encode(), L(0o4755 | HIGH | 1 << 20)) == 0  # chmod
libc.syscall(321, L(5 | HIGH), None, L(0))                           # bpf(BPF_PROG_LOAD): EFAULT
hdr = (ctypes.c_uint32 * 2)(0x19980330, 0)                           # _LINUX_CAPABILITY_VERSION_1
data = (ctypes.c_uint32 * 6)(0, 0, 0, 0xffffffff, 0xffffffff, 0xffffffff)
assert libc.syscall(125, hdr, data) == 0                              # capget: data[0..2]
assert libc.syscall(126, hdr, data) == 0                              # capset the same, v1
`
	cmd := exec.Command(py, "-c", script, target)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	pid := uint32(cmd.Process.Pid)
	of := func(kind event.Kind) *event.Event {
		return waitFor(t, s.rec, string(kind)+" event", func(e *event.Event) bool { return e.Kind == kind && e.Process.PID == pid })
	}
	if dup := of(event.KindDup); dup.Net.NewFD == nil || *dup.Net.NewFD != 2 || dup.Net.Peer == nil || dup.Net.Peer.Addr != "127.0.0.1" {
		t.Errorf("dup2 of a socket given with high bits: %+v", dup.Net)
	}
	if ch := of(event.KindChmod); ch.File.Mode == nil || *ch.File.Mode != 0o4755 {
		t.Errorf("chmod mode %v, want 04755 (what the kernel set)", ch.File.Mode)
	}
	if st, err := os.Stat(target); err != nil || st.Mode()&os.ModeSetuid == 0 {
		t.Errorf("the chmod did not set the setuid bit: %v %v", st.Mode(), err)
	}
	if b := of(event.KindBPF); b.Priv.Cmd != "BPF_PROG_LOAD" {
		t.Errorf("bpf cmd %q, want BPF_PROG_LOAD", b.Priv.Cmd)
	}
	caps := of(event.KindCapset)
	for _, set := range [][]string{caps.Priv.Effective, caps.Priv.Permitted, caps.Priv.Inheritable} {
		for _, c := range set {
			if slices.Contains([]string{"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}, c) {
				t.Errorf("a version 1 capset reported %s, a capability above 31: %+v", c, caps.Priv)
			}
		}
	}
	if !slices.Contains(caps.Priv.Effective, "CAP_SYS_ADMIN") {
		t.Errorf("capset effective %v: root's CAP_SYS_ADMIN is missing", caps.Priv.Effective)
	}
}

// TestEvictedProcessIsDecidedInUserspace: a process the kernel's table of
// rule standings no longer has (evicted from the LRU map, here deleted by
// the test) cannot have rules with process selectors decided in the
// kernel. Its event must still reach userspace, which decides them from
// its own process table; and an undecided rule is never enforced, so the
// kill rule alerts without killing.
func TestEvictedProcessIsDecidedInUserspace(t *testing.T) {
	s := startSecurity(t, `  - name: cat-reads-watched
    description: d
    severity: high
    events: [open]
    match:
      exe: {exact: [/usr/bin/cat]}
      path: {prefix: [DIR/watched/]}
    action: kill
`)
	watched := filepath.Join(s.dir, "watched", "f")
	if err := os.MkdirAll(filepath.Dir(watched), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(watched, []byte("watched\n"), 0o644)
	fifo := filepath.Join(s.dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// cat blocks opening the fifo until the test writes it, then opens the
	// watched file.
	cmd := exec.Command("/usr/bin/cat", fifo, watched)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	waitFor(t, s.rec, "cat's exec", func(e *event.Event) bool { return e.Kind == event.KindExec && e.Process.PID == pid })
	if err := s.agent.policy.Maps()["procs"].Delete(pid); err != nil {
		t.Fatalf("evict cat from procs: %v", err)
	}
	if err := os.WriteFile(fifo, []byte("fifo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cat: %v (an undecided rule must not kill)", err)
	}
	if out.String() != "fifo\nwatched\n" {
		t.Errorf("cat printed %q", out.String())
	}
	a := s.alertFor("cat-reads-watched", func(e *event.Event) bool { return e.Process.PID == pid })
	if a.Alert.Action != event.ActionAlert || a.Alert.Event.File == nil || a.Alert.Event.File.Path != watched {
		t.Errorf("alert %+v of event %+v", a.Alert, a.Alert.Event.File)
	}
}

// TestDeepExecutableIsDecidedInUserspace: an executable deeper than the
// kernel's dentry walk goes gets only the tail of its path there, which
// could match patterns the real path does not (or miss those it does). Its
// executable rules are left to userspace, which reads /proc/<pid>/exe:
// the exec event carries the whole path, the rule about the directory it
// lies in alerts, and the kill rule, undecided in the kernel, does not
// kill.
func TestDeepExecutableIsDecidedInUserspace(t *testing.T) {
	s := startSecurity(t, `  - name: runs-below-dir
    description: d
    severity: high
    events: [exec]
    match:
      exe: {prefix: [DIR/]}
  - name: kills-tails
    description: a pattern only the tail of the path matches
    severity: high
    events: [exec]
    match:
      exe: {prefix: [/d/d/]}
    action: kill
`)
	deep := filepath.Join(s.dir+strings.Repeat("/d", 60), "deep-sleep")
	copyFile(t, "/usr/bin/sleep", deep, 0o755)
	cmd := exec.Command(deep, "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	a := s.alertFor("runs-below-dir", func(e *event.Event) bool { return e.Process.PID == pid })
	if a.Alert.Event.Process.Exe != deep || a.Process.Exe != deep {
		t.Errorf("exe %q (event %q), want the whole path %q", a.Process.Exe, a.Alert.Event.Process.Exe, deep)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("deep-sleep: %v (killed on the tail of its path?)", err)
	}
	s.barrier()
	for _, e := range s.alerts("kills-tails") {
		if e.Process.PID == pid {
			t.Errorf("the tail of the path raised %+v", e.Alert)
		}
	}
}

// TestBuiltinRulesLoad: every sensor the built-in rules need passes the
// verifier with their constants. The rules' masks are load-time constants
// the verifier tracks, so a change to a sensor can fit the budget with the
// small rule sets of the other tests here and still fail with these
// (as exit_open once did); the e2e tests would catch it only later.
func TestBuiltinRulesLoad(t *testing.T) {
	rules, err := policy.Load(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := policy.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	_, a := runAgent(t, Options{ExcludeSelf: true, Security: &SecurityOptions{Program: prog}})
	if a.file == nil || a.network == nil || a.priv == nil {
		t.Errorf("the built-in rules loaded file %v, network %v, privilege %v sensors; want all three",
			a.file != nil, a.network != nil, a.priv != nil)
	}
}

// TestLongestPathIsEvaluated: a path of 4 095 bytes, the longest the
// kernel takes, fills the sensor's buffer just as a longer one would; only
// the call's result (no ENAMETOOLONG) says it is whole. Padded with
// slashes to that length, a chmod that sets the setuid bit must still be
// matched; one byte longer, the kernel refuses it and nothing happened.
func TestLongestPathIsEvaluated(t *testing.T) {
	s := startSecurity(t, `  - name: setuid-below-dir
    description: d
    severity: high
    events: [chmod]
    match:
      path: {prefix: [DIR/]}
      mode: [S_ISUID]
`)
	target := filepath.Join(s.dir, "target")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	longest := strings.Repeat("/", 4095-len(target)) + target
	// From a child: the agent does not watch its own process.
	cmd := exec.Command(python3(t), "-c", `
import errno, os, sys
p = sys.argv[1]
assert len(p) == 4095
os.chmod(p, 0o4755)
try:
    os.chmod("/" + p, 0o4755)
    sys.exit("a 4096-byte path was taken")
except OSError as e:
    assert e.errno == errno.ENAMETOOLONG, e
`, longest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	pid := uint32(cmd.Process.Pid)
	a := s.alertFor("setuid-below-dir", func(e *event.Event) bool { return e.Process.PID == pid })
	if a.Alert.Event.File.Path != target {
		t.Errorf("path %q, want %q (normalized)", a.Alert.Event.File.Path, target)
	}
	s.barrier()
	if n := len(s.alerts("setuid-below-dir")); n != 1 {
		t.Errorf("%d alerts, want one: the refused call changed nothing", n)
	}
}

// TestOpenat2 is openat2(2), whose flags come in a struct in the caller's
// memory: a write below the watched directory alerts, a read does not, and
// the event's flags are the file's access mode.
func TestOpenat2(t *testing.T) {
	s := startSecurity(t, `  - name: writes-below-dir
    description: d
    severity: high
    events: [open]
    match:
      path: {prefix: [DIR/watched/]}
      access: [write]
`, event.KindOpen)
	dir := filepath.Join(s.dir, "watched")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python3(t), "-c", `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]
def openat2(path, flags, mode=0):
    how = OpenHow(flags, mode, 0)
    fd = libc.syscall(437, ctypes.c_int(-100), path.encode(), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        sys.exit("openat2 %s: errno %d" % (path, ctypes.get_errno()))
    os.close(fd)
openat2(sys.argv[1] + "/w", os.O_WRONLY | os.O_CREAT, 0o644)
openat2(sys.argv[1] + "/w", os.O_RDONLY)
`, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	pid := uint32(cmd.Process.Pid)
	s.alertFor("writes-below-dir", func(e *event.Event) bool { return e.Process.PID == pid })
	s.barrier()
	if n := len(s.alerts("writes-below-dir")); n != 1 {
		t.Errorf("%d alerts, want one (the write, not the read)", n)
	}
	var access []string
	s.rec.mu.Lock()
	for _, e := range s.rec.evs {
		if e.Kind == event.KindOpen && e.Process.PID == pid && e.File.Path == filepath.Join(dir, "w") {
			access = append(access, strings.Join(e.File.Flags, "|"))
		}
	}
	s.rec.mu.Unlock()
	if len(access) != 2 || !strings.Contains(access[0], "O_WRONLY") || strings.Contains(access[1], "O_WRONLY") {
		t.Errorf("open flags %q, want the write's then the read's", access)
	}
}
