package file_test

// The file sensor in a whole agent running rules (internal/agenttest); an
// external test package, since the agent imports this one.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/event"
)

func TestOpenRulesSeeTheFileActuallyOpened(t *testing.T) {
	s := agenttest.StartSecurity(t, `
  - name: read-secret
    description: reads of the secret
    severity: high
    events: [open]
    match:
      access: [read]
      path: {exact: [DIR/secret]}
`)
	for _, f := range []string{"secret", "other", "sub/.keep"} {
		agenttest.CopyFile(t, "/etc/hostname", filepath.Join(s.Dir, f), 0o644)
	}
	secret := filepath.Join(s.Dir, "secret")

	s.Sh("cat DIR/secret >/dev/null")
	a := s.AlertFor("read-secret", agenttest.PathIs(secret))
	if a.Process.Exe != "/usr/bin/cat" || len(a.Ancestors) == 0 || !strings.HasSuffix(a.Ancestors[0].Exe, "sh") {
		t.Errorf("alert process %s, ancestors %+v: want cat started by the shell", a.Process.Exe, a.Ancestors)
	}
	ev := a.Alert.Event
	if ev.File.Access != "read" || ev.File.Result < 0 || a.Alert.Action != event.ActionAlert || a.Alert.Severity != "high" {
		t.Errorf("alert %+v of event %+v", a.Alert, ev.File)
	}

	// Relative, with "..", and through a symlink: all the same file.
	s.Sh("cd DIR/sub && cat ../secret >/dev/null")
	s.Sh("ln -s DIR/secret DIR/link && cat DIR/link >/dev/null")
	// Benign twins: another file, and a write (the rule is about reads).
	s.Sh("cat DIR/other >/dev/null")
	s.Sh("echo x >> DIR/secret")
	s.Barrier()
	if n := len(s.Alerts("read-secret")); n != 3 {
		for _, e := range s.Alerts("read-secret") {
			t.Logf("alert: %s %s %s", e.Process.Exe, e.Alert.Event.File.Path, e.Alert.Event.File.Access)
		}
		t.Errorf("%d read-secret alerts, want 3 (direct, relative, symlink)", n)
	}
}

func TestKillStopsTheWriteAfterTheOpen(t *testing.T) {
	s := agenttest.StartSecurity(t, `
  - name: protect
    description: nothing writes below protected/
    severity: critical
    events: [open]
    match:
      access: [write]
      path: {prefix: [DIR/protected/]}
    action: kill
`)
	os.MkdirAll(filepath.Join(s.Dir, "protected"), 0o755)
	os.MkdirAll(filepath.Join(s.Dir, "free"), 0o755)

	st := s.Sh("echo hacked > DIR/protected/f; touch DIR/after")
	if !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Errorf("shell status %v: want killed by SIGKILL", st)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, "protected/f"))
	if err != nil || len(b) != 0 {
		t.Errorf("protected/f: %q, %v: want created by the open, and empty", b, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "after")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the shell went on after the kill: %v", err)
	}
	a := s.AlertFor("protect", agenttest.PathIs(filepath.Join(s.Dir, "protected/f")))
	if a.Alert.Action != event.ActionKill {
		t.Errorf("action %q, want kill", a.Alert.Action)
	}

	// The benign twin is not touched.
	if st := s.Sh("echo fine > DIR/free/f"); st.ExitStatus() != 0 {
		t.Errorf("write outside protected/: status %v", st)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Dir, "free/f")); string(b) != "fine\n" {
		t.Errorf("free/f = %q", b)
	}
}

// TestFileKindsAtEntry covers the calls seen by their lexical path, every
// kind with its fields, including the path folding.
func TestFileKindsAtEntry(t *testing.T) {
	s := agenttest.StartSecurity(t, `
  - name: files
    description: everything below the scratch directory
    severity: info
    events: [unlink, rename, link, symlink, chmod, chown]
    match:
      path: {prefix: [DIR/w/]}
`)
	w := filepath.Join(s.Dir, "w")
	os.MkdirAll(filepath.Join(w, "d/e"), 0o755)
	for _, f := range []string{"x", "y", "c"} {
		agenttest.CopyFile(t, "/etc/hostname", filepath.Join(w, f), 0o644)
	}
	s.Sh(`cd DIR/w/d && rm ../d/../x && mv ../y ../z && ln ../z ../h && ln -s z ../s && chmod 4755 ../h && chown 7:8 ../c && rmdir e && rm DIR/w/missing`)
	s.Barrier()

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
		a := s.AlertFor("files", func(e *event.Event) bool { return e.Kind == w.kind && e.File.Path == w.path })
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
	if n := len(s.Alerts("files")); n != 8 {
		t.Errorf("%d alerts, want 8", n)
	}
}

// A file deeper than the kernel's dentry walk goes is reported with the
// path it could build, flagged as truncated; a shallow one is not flagged.
func TestDeepPathIsFlaggedTruncated(t *testing.T) {
	s := agenttest.StartSecurity(t, "", event.KindOpen)
	deep := s.Dir + strings.Repeat("/d", 60)
	agenttest.CopyFile(t, "/etc/hostname", filepath.Join(deep, "deep-file"), 0o644)
	agenttest.CopyFile(t, "/etc/hostname", filepath.Join(s.Dir, "shallow-file"), 0o644)
	s.Sh("cat " + filepath.Join(deep, "deep-file") + " DIR/shallow-file >/dev/null")
	s.Barrier()
	var sawDeep, sawShallow bool
	for _, e := range s.Rec.Events() {
		if e.Kind != event.KindOpen || e.Process.Exe != "/usr/bin/cat" {
			continue
		}
		switch f := e.File; {
		case strings.HasSuffix(f.Path, "/d/d/deep-file"):
			sawDeep = true
			if !f.PathTruncated || f.Path == filepath.Join(deep, "deep-file") {
				t.Errorf("deep open: path %q truncated %v; want the path cut at the root side, flagged", f.Path, f.PathTruncated)
			}
		case f.Path == filepath.Join(s.Dir, "shallow-file"):
			sawShallow = true
			if f.PathTruncated {
				t.Errorf("shallow open %q flagged truncated", f.Path)
			}
		}
	}
	if !sawDeep || !sawShallow {
		t.Errorf("open events of cat: deep %v, shallow %v; want both", sawDeep, sawShallow)
	}
}

// TestHighRegisterBitsHideNothing: the kernel reads modes from the low
// bits of their registers only (umode_t), so a caller may set the high
// bits without changing what the call does. The sensor must read them the
// same way: a chmod with bits above umode_t still sets exactly 04755.
// (The network and privilege sensors have theirs.)
func TestHighRegisterBitsHideNothing(t *testing.T) {
	s := agenttest.StartSecurity(t, "", event.KindChmod)
	target := filepath.Join(s.Dir, "modes")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pid, _ := s.Python(`
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long
HIGH = 1 << 32
assert libc.syscall(90, sys.argv[1].encode(), L(0o4755 | HIGH | 1 << 20)) == 0  # chmod
`, target)
	if ch := s.EventOf(event.KindChmod, pid, nil); ch.File.Mode == nil || *ch.File.Mode != 0o4755 {
		t.Errorf("chmod mode %v, want 04755 (what the kernel set)", ch.File.Mode)
	}
	if st, err := os.Stat(target); err != nil || st.Mode()&os.ModeSetuid == 0 {
		t.Errorf("the chmod did not set the setuid bit: %v %v", st.Mode(), err)
	}
}

// TestLongestPathIsEvaluated: a path of 4 095 bytes, the longest the
// kernel takes, fills the sensor's buffer just as a longer one would; only
// the call's result (no ENAMETOOLONG) says it is whole. Padded with
// slashes to that length, a chmod that sets the setuid bit must still be
// matched; one byte longer, the kernel refuses it and nothing happened.
func TestLongestPathIsEvaluated(t *testing.T) {
	s := agenttest.StartSecurity(t, `  - name: setuid-below-dir
    description: d
    severity: high
    events: [chmod]
    match:
      path: {prefix: [DIR/]}
      mode: [S_ISUID]
`)
	target := filepath.Join(s.Dir, "target")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	longest := strings.Repeat("/", 4095-len(target)) + target
	pid, _ := s.Python(`
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
	a := s.AlertFor("setuid-below-dir", func(e *event.Event) bool { return e.Process.PID == pid })
	if a.Alert.Event.File.Path != target {
		t.Errorf("path %q, want %q (normalized)", a.Alert.Event.File.Path, target)
	}
	s.Barrier()
	if n := len(s.Alerts("setuid-below-dir")); n != 1 {
		t.Errorf("%d alerts, want one: the refused call changed nothing", n)
	}
}

// TestOpenat2 is openat2(2), whose flags come in a struct in the caller's
// memory: a write below the watched directory alerts, a read does not, and
// the event's flags are the file's access mode.
func TestOpenat2(t *testing.T) {
	s := agenttest.StartSecurity(t, `  - name: writes-below-dir
    description: d
    severity: high
    events: [open]
    match:
      path: {prefix: [DIR/watched/]}
      access: [write]
`, event.KindOpen)
	dir := filepath.Join(s.Dir, "watched")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pid, _ := s.Python(`
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
	s.AlertFor("writes-below-dir", func(e *event.Event) bool { return e.Process.PID == pid })
	s.Barrier()
	if n := len(s.Alerts("writes-below-dir")); n != 1 {
		t.Errorf("%d alerts, want one (the write, not the read)", n)
	}
	var access []string
	for _, e := range s.Rec.Events() {
		if e.Kind == event.KindOpen && e.Process.PID == pid && e.File.Path == filepath.Join(dir, "w") {
			access = append(access, strings.Join(e.File.Flags, "|"))
		}
	}
	if len(access) != 2 || !strings.Contains(access[0], "O_WRONLY") || strings.Contains(access[1], "O_WRONLY") {
		t.Errorf("open flags %q, want the write's then the read's", access)
	}
}
