package agenttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/internal/agent"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/policy"
)

// CompileRules compiles a rule file's text.
func CompileRules(t *testing.T, yaml string) *policy.Program {
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

// Security is an agent running rules, and the test's scratch directory.
type Security struct {
	T        *testing.T
	Rec      *Recorder
	Agent    *agent.Agent
	Dir      string // the scratch directory, DIR in rules and scripts
	sentinel string
}

// StartSecurity runs an agent with the rules (rule list items, indented by
// two spaces under `rules:`, DIR standing for the scratch directory) plus
// the sentinel rule, and every event of the emitAll kinds.
func StartSecurity(t *testing.T, rules string, emitAll ...event.Kind) *Security {
	t.Helper()
	return startSecurity(t, true, rules, emitAll)
}

// StartSecurityWatchingSelf is StartSecurity with the agent's own process
// watched (ExcludeSelf false): the test process, which is the agent, has
// its events judged by the rules too.
func StartSecurityWatchingSelf(t *testing.T, rules string, emitAll ...event.Kind) *Security {
	t.Helper()
	return startSecurity(t, false, rules, emitAll)
}

func startSecurity(t *testing.T, excludeSelf bool, rules string, emitAll []event.Kind) *Security {
	t.Helper()
	bpftest.Require(t)
	dir := TestDir(t)
	s := &Security{T: t, Dir: dir, sentinel: filepath.Join(dir, "sentinel")}
	CopyFile(t, "/usr/bin/true", s.sentinel, 0o755)
	rules = strings.ReplaceAll(rules, "DIR", dir)
	prog := CompileRules(t, "rules:\n"+rules+fmt.Sprintf(sentinelRule, s.sentinel))
	s.Rec, s.Agent = RunAgent(t, agent.Options{
		ExcludeSelf: excludeSelf,
		Security:    &agent.SecurityOptions{Program: prog, EmitAll: emitAll},
	})
	return s
}

// TestDir is a scratch directory outside /tmp, where the built-in rules
// would see every exec as suspect.
func TestDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/lib", "vigil-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// CopyFile copies from to to, with mode, making to's directories.
func CopyFile(t *testing.T, from, to string, mode os.FileMode) {
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

// Sh runs a shell command line (DIR standing for the scratch directory) in
// the scratch directory and returns its wait status.
func (s *Security) Sh(script string) syscall.WaitStatus {
	s.T.Helper()
	cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(script, "DIR", s.Dir))
	cmd.Dir = s.Dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.T.Fatalf("%s: %v", script, err)
	}
	if len(out) > 0 {
		s.T.Logf("%s: %s", script, out)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// Python runs Debian's python3 on script with args, from a child process
// (the agent does not watch its own), and returns the child's pid and
// output. The test fails if the script does.
func (s *Security) Python(script string, args ...string) (pid uint32, out string) {
	s.T.Helper()
	cmd := exec.Command(Python3(s.T), append([]string{"-c", script}, args...)...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		s.T.Fatalf("python: %v: %s", err, b)
	}
	return uint32(cmd.Process.Pid), string(b)
}

// Barrier execs the sentinel and waits for its alert.
func (s *Security) Barrier() {
	s.T.Helper()
	cmd := exec.Command(s.sentinel)
	if err := cmd.Run(); err != nil {
		s.T.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	WaitFor(s.T, s.Rec, "the sentinel's alert", func(e *event.Event) bool {
		return e.Kind == event.KindAlert && e.Alert.Rule == "sentinel" && e.Process.PID == pid
	})
}

// Alerts returns the alerts of rule recorded so far.
func (s *Security) Alerts(rule string) []event.Event {
	var out []event.Event
	for _, e := range s.Rec.Events() {
		if e.Kind == event.KindAlert && e.Alert.Rule == rule {
			out = append(out, e)
		}
	}
	return out
}

// AlertFor waits for an alert of rule whose triggering event satisfies match.
func (s *Security) AlertFor(rule string, match func(*event.Event) bool) *event.Event {
	s.T.Helper()
	return WaitFor(s.T, s.Rec, "alert "+rule, func(e *event.Event) bool {
		return e.Kind == event.KindAlert && e.Alert.Rule == rule && match(e.Alert.Event)
	})
}

// EventOf waits for an event of kind of the process pid that satisfies
// match (nil: any).
func (s *Security) EventOf(kind event.Kind, pid uint32, match func(*event.Event) bool) *event.Event {
	s.T.Helper()
	return WaitFor(s.T, s.Rec, string(kind)+" event", func(e *event.Event) bool {
		return e.Kind == kind && e.Process.PID == pid && (match == nil || match(e))
	})
}

// Succeeded fails the test unless the call behind the network or
// privilege event e succeeded.
func Succeeded(t *testing.T, e *event.Event, what string) {
	t.Helper()
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

// Python3 is Debian's python3, which scripts/setup.sh installs: tests run
// syscalls through it that Go's runtime would not let them make.
func Python3(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		bpftest.SkipOrFail(t, "Debian's python3 is not installed (scripts/setup.sh installs it)")
	}
	return py
}

// Connect makes a child python3 connect to port on 127.0.0.1 and returns
// what it says: "ok", or "errno N".
func Connect(t *testing.T, port int) string {
	t.Helper()
	out, _ := exec.Command(Python3(t), "-c", fmt.Sprintf(`
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

// PathIs matches file events of the path p.
func PathIs(p string) func(*event.Event) bool {
	return func(e *event.Event) bool { return e.File != nil && e.File.Path == p }
}
