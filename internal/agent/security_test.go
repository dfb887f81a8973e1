package agent_test

// Kernel tests of the rules that reach into the agent (export_test.go):
// the kernel's masks against Go's, the sensors the built-in rules load, and
// the events the kernel leaves to userspace. The file, network, privilege
// and process sensors' tests under rules are in their packages
// (rules_test.go).

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/agent"
	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/policy"
	"github.com/vigil-dev/vigil/internal/proc"
)

// TestKernelMasksAgreeWithGo checks the kernel's rule evaluation against
// the Go reference (policy.Program.KernelMask) on every event of a real
// workload, for rules that use every dimension the kernel evaluates.
func TestKernelMasksAgreeWithGo(t *testing.T) {
	bpftest.Require(t)
	dir := agenttest.TestDir(t)
	prog := agenttest.CompileRules(t, strings.ReplaceAll(`rules:
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
		mu       sync.Mutex // got and compared are written on the agent's pipeline goroutine
		got      []seen
		compared int
	)
	rec, _ := agenttest.RunAgent(t, agent.Options{
		ExcludeSelf: true,
		Security:    &agent.SecurityOptions{Program: prog, EmitAll: kinds},
	}, func(a *agent.Agent) {
		agent.SetCheckMask(a, func(ev *event.Event, mask uint64, flags uint8) {
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
			mu.Lock()
			defer mu.Unlock()
			compared++
			if want := prog.KernelMask(ev); want != mask {
				got = append(got, seen{ev.Kind, path, mask, want})
			}
		})
	})
	for _, d := range []string{"sub/skip", "into"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	for _, f := range []string{"a", "sub/b", "sub/c", "x", "y", "z", "t.log"} {
		agenttest.CopyFile(t, "/etc/hostname", filepath.Join(dir, f), 0o644)
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
	agenttest.WaitFor(t, rec, "the chmod of sub/c", func(e *event.Event) bool {
		return e.Kind == event.KindChmod && e.File.Path == filepath.Join(dir, "sub/c")
	})
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
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
	prog := agenttest.CompileRules(t, `rules:
  - {name: by-cat, description: d, severity: high, events: [open], match: {exe: {exact: [/usr/bin/cat]}, path: {prefix: [/srv/]}}, action: kill}
`)
	var got []event.Event
	table := proc.NewTable(proc.TableOptions{})
	alert := agent.SecurityAlert(&agent.SecurityOptions{Program: prog}, table, 16, func(ev *event.Event) {
		got = append(got, *ev)
	})
	ev := &event.Event{Kind: event.KindOpen, Process: event.Process{PID: 1 << 30, Exe: "/usr/bin/cat"},
		File: &event.File{Path: "/srv/data"}, Ancestors: []event.Ancestor{}}
	alert(ev, 0, bpfpolicy.FlagProcUnknown)
	if len(got) != 1 || got[0].Alert.Rule != "by-cat" || got[0].Alert.Action != event.ActionAlert {
		t.Fatalf("alerts %+v, want one of by-cat, action alert (the kernel did not kill)", got)
	}
	got = nil
	ev.File.Path = "/etc/data"
	alert(ev, 0, bpfpolicy.FlagProcUnknown)
	if len(got) != 0 {
		t.Errorf("alerts %+v for a path no rule is about", got)
	}
	// Decided by the kernel with no match: nothing to do.
	ev.File.Path = "/srv/data"
	alert(ev, 0, 0)
	if len(got) != 0 {
		t.Errorf("alerts %+v for an event the kernel matched to no rule", got)
	}
}

// TestEvictedProcessIsDecidedInUserspace: a process the kernel's table of
// rule standings no longer has (evicted from the LRU map, here deleted by
// the test) cannot have rules with process selectors decided in the
// kernel. Its event must still reach userspace, which decides them from
// its own process table; and an undecided rule is never enforced, so the
// kill rule alerts without killing. (Here rather than with the file
// sensor: it deletes from the agent's policy maps.)
func TestEvictedProcessIsDecidedInUserspace(t *testing.T) {
	s := agenttest.StartSecurity(t, `  - name: cat-reads-watched
    description: d
    severity: high
    events: [open]
    match:
      exe: {exact: [/usr/bin/cat]}
      path: {prefix: [DIR/watched/]}
    action: kill
`)
	watched := filepath.Join(s.Dir, "watched", "f")
	if err := os.MkdirAll(filepath.Dir(watched), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(watched, []byte("watched\n"), 0o644)
	fifo := filepath.Join(s.Dir, "fifo")
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
	agenttest.WaitFor(t, s.Rec, "cat's exec", func(e *event.Event) bool { return e.Kind == event.KindExec && e.Process.PID == pid })
	if err := agent.PolicyMaps(s.Agent)["procs"].Delete(pid); err != nil {
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
	a := s.AlertFor("cat-reads-watched", func(e *event.Event) bool { return e.Process.PID == pid })
	if a.Alert.Action != event.ActionAlert || a.Alert.Event.File == nil || a.Alert.Event.File.Path != watched {
		t.Errorf("alert %+v of event %+v", a.Alert, a.Alert.Event.File)
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
	_, a := agenttest.RunAgent(t, agent.Options{ExcludeSelf: true, Security: &agent.SecurityOptions{Program: prog}})
	file, network, priv := agent.Sensors(a)
	if file == nil || network == nil || priv == nil {
		t.Errorf("the built-in rules loaded file %v, network %v, privilege %v sensors; want all three",
			file != nil, network != nil, priv != nil)
	}
}
