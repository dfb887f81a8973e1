package process_test

// Exec rules, which the process sensor decides and enforces, in a whole
// agent (internal/agenttest).

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/event"
)

func TestKillAtExecBeforeTheFirstInstruction(t *testing.T) {
	s := agenttest.StartSecurity(t, `
  - name: no-dropped-binaries
    description: nothing runs from bin/
    severity: critical
    events: [exec]
    match:
      exe: {prefix: [DIR/bin/]}
    action: kill
`)
	agenttest.CopyFile(t, "/usr/bin/touch", filepath.Join(s.Dir, "bin/touch"), 0o755)
	cmd := exec.Command(filepath.Join(s.Dir, "bin/touch"), filepath.Join(s.Dir, "marker"))
	err := cmd.Run()
	st, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Errorf("dropped touch: %v (status %v), want killed", err, st)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "marker")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed binary still did its work: %v", err)
	}
	a := s.AlertFor("no-dropped-binaries", func(e *event.Event) bool { return e.Kind == event.KindExec })
	if a.Alert.Action != event.ActionKill || a.Process.PID != uint32(cmd.Process.Pid) {
		t.Errorf("alert %+v for pid %d, want kill of %d", a.Alert, a.Process.PID, cmd.Process.Pid)
	}
	// The same binary from its real place runs.
	if err := exec.Command("/usr/bin/touch", filepath.Join(s.Dir, "marker2")).Run(); err != nil {
		t.Errorf("touch: %v", err)
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
	s := agenttest.StartSecurity(t, `  - name: runs-below-dir
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
	deep := filepath.Join(s.Dir+strings.Repeat("/d", 60), "deep-sleep")
	agenttest.CopyFile(t, "/usr/bin/sleep", deep, 0o755)
	cmd := exec.Command(deep, "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	a := s.AlertFor("runs-below-dir", func(e *event.Event) bool { return e.Process.PID == pid })
	if a.Alert.Event.Process.Exe != deep || a.Process.Exe != deep {
		t.Errorf("exe %q (event %q), want the whole path %q", a.Process.Exe, a.Alert.Event.Process.Exe, deep)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("deep-sleep: %v (killed on the tail of its path?)", err)
	}
	s.Barrier()
	for _, e := range s.Alerts("kills-tails") {
		if e.Process.PID == pid {
			t.Errorf("the tail of the path raised %+v", e.Alert)
		}
	}
}
