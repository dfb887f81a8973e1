package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

// waitFor waits up to d for a line containing sub; false if none came, or
// stderr closed first.
func (l *lineLog) waitFor(sub string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		all, closed := l.lines()
		for _, line := range all {
			if strings.Contains(line, sub) {
				return true
			}
		}
		if closed {
			return false
		}
		select {
		case <-l.added:
		case <-deadline:
			return false
		}
	}
}

// count is how many lines so far contain sub.
func (l *lineLog) count(sub string) int {
	all, _ := l.lines()
	n := 0
	for _, line := range all {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

// alive fails the test when vigil has exited (a zombie not yet waited for
// is gone too).
func (v *vigilProc) alive(when string) {
	v.t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", v.cmd.Process.Pid))
	if i := strings.LastIndexByte(string(stat), ')'); err == nil && i > 0 && i+2 < len(stat) && stat[i+2] != 'Z' {
		return
	}
	v.cmd.Wait()
	v.t.Fatalf("%s: vigil is gone (%v); stderr:\n%s", when, v.cmd.ProcessState, v.stderr)
}

// killRules writes a rule file whose one rule kills whatever runs from
// DIR/bin, and a copy of touch there; it returns the file and the copy.
func killRules(t *testing.T, dir string) (rules, touch string) {
	t.Helper()
	rules = filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(strings.ReplaceAll(`rules:
  - name: no-dropped-binaries
    description: nothing runs from DIR/bin
    severity: critical
    events: [exec]
    match:
      exe: {prefix: [DIR/bin/]}
    action: kill
`, "DIR", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/usr/bin/touch")
	if err != nil {
		t.Fatal(err)
	}
	touch = filepath.Join(dir, "bin", "touch")
	os.MkdirAll(filepath.Dir(touch), 0o755)
	if err := os.WriteFile(touch, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return rules, touch
}

// mustBeKilled runs touch, which a kill rule covers: the kernel must kill
// it before it creates its file.
func mustBeKilled(t *testing.T, touch, marker string) {
	t.Helper()
	cmd := exec.Command(touch, marker)
	err := cmd.Run()
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Fatalf("%s: %v, want killed by SIGKILL: the kill rule is no longer enforced", touch, err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the killed binary still ran: %v", err)
	}
}

// TestRunOutlivesItsOutputs: `vigil run` with alerts on a stdout whose
// reader goes away (`vigil run | head -c 100`), then with its stderr gone
// too, keeps enforcing its kill rule, keeps serving /metrics, counts every
// alert it cannot write, says so once, and still stops clean.
func TestRunOutlivesItsOutputs(t *testing.T) {
	bpftest.Require(t)
	dir := varLibDir(t, "vigil-e2e-epipe-")
	rules, touch := killRules(t, dir)
	addr := freePort(t)
	v := startVigil(t, "vigil running", "run", "--listen", addr, "--no-default-rules", "--rules", rules)

	v.stdoutR.Close() // the only read end: the next alert meets EPIPE
	mustBeKilled(t, touch, filepath.Join(dir, "m1"))
	const said = "the alert output failed"
	found := v.stderr.waitFor(said, 5*time.Second)
	v.alive("after the first alert on a closed stdout")
	if !found {
		t.Fatalf("no %q line on stderr:\n%s", said, v.stderr)
	}
	mustBeKilled(t, touch, filepath.Join(dir, "m2"))
	mustBeKilled(t, touch, filepath.Join(dir, "m3"))

	raised := `vigil_alerts_total{action="kill",rule="no-dropped-binaries",severity="critical"}`
	dropped := `vigil_events_dropped_total{stage="alerts"}`
	waitMetrics := func(want int) {
		t.Helper()
		var body string
		for deadline := time.Now().Add(5 * time.Second); ; {
			_, body = httpGet(t, "http://"+addr+"/metrics")
			if strings.Contains(body, raised+" ") && int(metricValue(t, body, raised)) == want && int(metricValue(t, body, dropped)) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %d alerts raised and as many dropped:\n%s\n%s", want, grepLines(body, "alerts_total"), grepLines(body, dropped))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitMetrics(3)
	if n := v.stderr.count(said); n != 1 {
		t.Errorf("%q said %d times, want once:\n%s", said, n, v.stderr)
	}

	// Now stderr goes too: a SIGHUP makes vigil log a line into it.
	v.stderrR.Close()
	v.stderr.waitClosed(time.Second)
	if err := v.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	v.alive("after a log line on a closed stderr")
	mustBeKilled(t, touch, filepath.Join(dir, "m4"))
	waitMetrics(4)
	v.stop()
}

// TestTraceExitsWhenItsReaderGoesAway: `vigil trace | head -1` ends with
// exit status 0 once head has gone, silently, and leaves nothing loaded.
func TestTraceExitsWhenItsReaderGoesAway(t *testing.T) {
	v := startVigil(t, "tracing", "trace", "--kind", "exec")
	v.stdoutR.Close()
	done := make(chan error, 1)
	go func() { done <- v.cmd.Wait() }()
	start := time.Now()
	for i := 0; ; i++ {
		exec.Command("/bin/true").Run() // an event to write
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("vigil trace after its reader went away: %v, want exit status 0; stderr:\n%s", err, v.stderr)
			}
			t.Logf("vigil trace exited %v after its reader went away", time.Since(start).Round(time.Millisecond))
			v.stderr.waitClosed(time.Second)
			if s := v.stderr.String(); strings.Contains(s, "not written") || strings.Contains(s, "broken pipe") {
				t.Errorf("a reader that went away is no error to report; stderr:\n%s", s)
			}
			gone(t, v.progs)
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("vigil trace still runs 5 s after its reader went away; stderr:\n%s", v.stderr)
		}
	}
}

// TestSIGTERMWhileStarting: SIGTERM half a second into the start (the
// verifier takes seconds over the built-in rules' sensors) ends vigil
// within the 2 s of the contract, with exit status 0, no warning, and
// nothing left in the kernel.
func TestSIGTERMWhileStarting(t *testing.T) {
	bpftest.Require(t)
	for _, args := range [][]string{
		{"run", "--listen", "127.0.0.1:0"},
		{"trace", "--kind", "exec,alert,open"},
	} {
		t.Run(args[0], func(t *testing.T) {
			v := spawnVigil(t, nil, nil, args...)
			time.Sleep(500 * time.Millisecond)
			progs := programsOf(t, v.cmd.Process.Pid)
			before := v.stderr.String()
			start := time.Now()
			if err := v.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- v.cmd.Wait() }()
			select {
			case err := <-done:
				took := time.Since(start)
				t.Logf("vigil %s exited %v after SIGTERM", args[0], took.Round(time.Millisecond))
				if err != nil {
					t.Errorf("vigil %s after SIGTERM: %v, want exit status 0", args[0], err)
				}
				if took > 2*time.Second {
					t.Errorf("vigil %s exited %v after SIGTERM, want within 2 s", args[0], took)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("vigil %s did not exit within 10 s of SIGTERM; stderr:\n%s", args[0], v.stderr)
			}
			v.stderr.waitClosed(time.Second)
			if strings.Contains(before, "vigil running") || strings.Contains(before, "tracing;") {
				t.Logf("the start was over before SIGTERM: this run tests only the stop")
			}
			s := v.stderr.String()
			for _, l := range strings.Split(s, "\n") {
				// Warnings, errors, and what main prints of an error.
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") ||
					strings.HasPrefix(l, "vigil: ") && !strings.HasPrefix(l, "vigil: tracing;") {
					t.Errorf("on stderr after a SIGTERM while starting: %s", l)
				}
			}
			gone(t, progs)
		})
	}
}

// TestRunIgnoresSIGHUP: SIGHUP, while vigil starts and once it runs,
// neither stops it nor reloads anything; each is said on stderr.
func TestRunIgnoresSIGHUP(t *testing.T) {
	bpftest.Require(t)
	addr := freePort(t)
	v := spawnVigil(t, nil, nil, "run", "--listen", addr)
	time.Sleep(500 * time.Millisecond)
	if err := v.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	v.waitReady("vigil running")
	if err := v.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	const said = "SIGHUP ignored"
	deadline := time.Now().Add(5 * time.Second)
	for v.stderr.count(said) < 2 {
		v.alive("after SIGHUP")
		if time.Now().After(deadline) {
			t.Fatalf("want a %q line for each of 2 SIGHUPs; stderr:\n%s", said, v.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := httpGet(t, "http://"+addr+"/readyz"); code != 200 {
		t.Errorf("/readyz after SIGHUP: %d", code)
	}
	v.stop()
}

// TestRulesValidateRefusesAFIFO: a named pipe nobody writes is refused at
// once with a clear error, rather than blocking, deaf to SIGTERM.
func TestRulesValidateRefusesAFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "rules.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"rules", "validate", fifo},
		{"rules", "list", "--rules", fifo},
		{"run", "--rules", fifo, "--listen", "127.0.0.1:0"},
		{"run", "--config", fifo, "--listen", "127.0.0.1:0"},
	} {
		cmd := exec.Command(vigilBin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(2 * time.Second):
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
				t.Errorf("vigil %v blocked on a named pipe; it took SIGTERM", args)
			case <-time.After(time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("vigil %v blocked on a named pipe, deaf to SIGTERM", args)
			}
			continue
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), fifo+": a named pipe") {
			t.Errorf("vigil %v: %v, stderr %q; want exit status 1 and %q", args, err, stderr.String(), fmt.Sprintf("%s: a named pipe...", fifo))
		}
	}
}
