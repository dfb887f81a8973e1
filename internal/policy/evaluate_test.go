package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
)

func names(rules []*Rule) string {
	var s []string
	for _, r := range rules {
		s = append(s, r.Name)
	}
	return strings.Join(s, ",")
}

func TestEvaluate(t *testing.T) {
	p := compileYAML(t, `
rules:
  - name: conf-glob
    description: d
    severity: low
    events: [open]
    match: {path: {glob: ["/etc/**/*.conf"], not_glob: ["/etc/ssl/**"]}}
  - name: kernel-only
    description: d
    severity: low
    events: [open]
    match: {path: {prefix: [/etc/]}}
  - name: args
    description: d
    severity: low
    events: [exec]
    match:
      exe: {exact: [/usr/bin/nc]}
      args: {any: [-e], prefix: [--exec=], glob: ["/tmp/*.sh"], contains: [sh-exec]}
  - name: cond
    description: d
    severity: low
    events: [exec]
    match: {exe: {prefix: [/usr/bin/]}}
    condition: 'process.uid == 0'
  - name: fs
    description: d
    severity: low
    events: [mount]
    match: {fstype: [cgroup]}
  - name: not-glob-exe
    description: d
    severity: low
    events: [exec]
    match: {exe: {not_glob: ["/usr/**"]}}
  - name: rename
    description: d
    severity: low
    events: [rename]
    match: {path: {glob: ["/etc/cron.d/*"]}}
`)
	if want := ^bitOf(t, p, "kernel-only") & (1<<len(p.Rules) - 1); p.Userspace != want {
		t.Errorf("Userspace = %b, want %b", p.Userspace, want)
	}
	root := proc("/usr/bin/id")
	root.UID = 0
	user := proc("/usr/bin/id")
	user.UID = 1000
	for _, c := range []struct {
		name string
		ev   *event.Event
		want string // rules matched by MatchEvent, in order
	}{
		{"glob match", openEv(root, "/etc/nginx/nginx.conf", "read"), "conf-glob,kernel-only"},
		{"glob zero segments", openEv(root, "/etc/x.conf", "read"), "conf-glob,kernel-only"},
		{"glob no match", openEv(root, "/etc/nginx/mime.types", "read"), "kernel-only"},
		{"negative glob", openEv(root, "/etc/ssl/openssl.conf", "read"), "kernel-only"},
		{"glob prefix only", openEv(root, "/var/x.conf", "read"), ""},
		{"args any", execEv(proc("/usr/bin/nc", "nc", "-l", "-e", "/bin/sh")), "args"},
		{"args prefix", execEv(proc("/usr/bin/nc", "nc", "--exec=/bin/sh")), "args"},
		{"args glob", execEv(proc("/usr/bin/nc", "nc", "/tmp/x.sh")), "args"},
		{"args contains", execEv(proc("/usr/bin/nc", "nc", "--sh-exec", "id")), "args"},
		{"args skip argv0", execEv(proc("/usr/bin/nc", "-e")), ""},
		{"args none", execEv(proc("/usr/bin/nc", "nc", "-l", "80")), ""},
		{"condition true", execEv(root), "cond"},
		{"condition false", execEv(user), ""},
		{"fstype", fileEv(event.KindMount, root, event.File{Path: "/mnt", FSType: "cgroup"}), "fs"},
		{"other fstype", fileEv(event.KindMount, root, event.File{Path: "/mnt", FSType: "cgroup2"}), ""},
		{"exe not_glob", execEv(proc("/opt/x")), "not-glob-exe"},
		{"rename new path", fileEv(event.KindRename, root, event.File{Path: "/tmp/x", NewPath: "/etc/cron.d/x"}), "rename"},
		{"rename old path", fileEv(event.KindRename, root, event.File{Path: "/etc/cron.d/x", NewPath: "/tmp/x"}), "rename"},
		{"rename elsewhere", fileEv(event.KindRename, root, event.File{Path: "/tmp/x", NewPath: "/tmp/y"}), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := p.MatchEvent(c.ev)
			var rules []*Rule
			for i, r := range p.Rules {
				if got&(1<<i) != 0 {
					rules = append(rules, r)
				}
			}
			if names(rules) != c.want {
				t.Errorf("MatchEvent = %s, want %s", names(rules), c.want)
			}
			// Evaluate of the kernel's verdict agrees.
			if e := names(p.Evaluate(c.ev, p.KernelMask(c.ev))); e != c.want {
				t.Errorf("Evaluate = %s, want %s", e, c.want)
			}
		})
	}
	// Evaluate trusts the kernel for kernel-only rules, and ignores bits
	// past the rules.
	ev := openEv(root, "/nowhere", "read")
	if got := names(p.Evaluate(ev, bitOf(t, p, "kernel-only")|1<<63)); got != "kernel-only" {
		t.Errorf("Evaluate(kernel-only) = %s", got)
	}
	if got := p.Evaluate(ev, 0); got != nil {
		t.Errorf("Evaluate(0) = %v", got)
	}
}

func TestKernelMaskProcess(t *testing.T) {
	p := compileYAML(t, `
rules:
  - {name: shell-by-nginx, description: d, severity: high, events: [exec], match: {exe: {exact: [/bin/sh]}, parent_exe: {exact: [/usr/sbin/nginx]}}}
  - {name: not-by-sshd, description: d, severity: high, events: [exec], match: {parent_exe: {not_in: [/usr/sbin/sshd]}}}
  - {name: killer, description: d, severity: high, events: [exec], action: kill, match: {exe: {prefix: [/tmp/]}}}
  - {name: denier, description: d, severity: high, events: [connect], action: deny, match: {destination: {ports: ["4444"]}}}
`)
	const byNginx, notSSHD, killer, denier = 1, 2, 4, 8
	if p.Kill != killer || p.Deny != denier || p.Kinds[event.KindExec] != 7 || p.Kinds[event.KindConnect] != denier {
		t.Errorf("Kill %b Deny %b Kinds %v", p.Kill, p.Deny, p.Kinds)
	}
	for _, c := range []struct {
		ev   *event.Event
		want uint64
	}{
		{execEv(proc("/bin/sh"), parent("/usr/sbin/nginx")), byNginx | notSSHD},
		{execEv(proc("/bin/sh"), parent("/usr/sbin/sshd")), 0},
		{execEv(proc("/bin/sh")), notSSHD}, // no parent known: "" is not sshd
		{execEv(proc("/tmp/x"), parent("/usr/sbin/sshd")), killer},
		{connect("1.2.3.4", 4444), denier},
		{connect("1.2.3.4", 80), 0},
	} {
		if got := p.KernelMask(c.ev); got != c.want {
			t.Errorf("%s %s (parent %v) = %b, want %b", c.ev.Kind, c.ev.Process.Exe, c.ev.Ancestors, got, c.want)
		}
	}
	exeOK, asParent := p.ProcessMasks("/usr/sbin/nginx")
	if exeOK != notSSHD|denier || asParent != byNginx|notSSHD|killer|denier {
		t.Errorf("ProcessMasks(nginx) = %b, %b", exeOK, asParent)
	}
	exeOK, asParent = p.ProcessMasks("/usr/sbin/sshd")
	if exeOK != notSSHD|denier || asParent != killer|denier {
		t.Errorf("ProcessMasks(sshd) = %b, %b", exeOK, asParent)
	}
}

func TestNewAlert(t *testing.T) {
	p := compileYAML(t, `
rules:
  - {name: r, description: what and why, severity: high, tags: [mitre.T1059], events: [exec]}
  - {name: untagged, description: d, severity: low, events: [exec]}
`)
	ev := execEv(proc("/bin/sh", "sh", "-c", "id"), parent("/usr/sbin/nginx"))
	a := p.NewAlert(ev, p.Rules[0])
	if a.Kind != event.KindAlert || a.Alert.Rule != "r" || a.Alert.Severity != "high" || a.Alert.Action != "alert" ||
		a.Alert.Description != "what and why" || a.Alert.Tags[0] != "mitre.T1059" || a.Alert.Event != ev {
		t.Fatalf("alert %+v %+v", a, a.Alert)
	}
	if a.Process.Exe != "/bin/sh" || a.Ancestors[0].Exe != "/usr/sbin/nginx" {
		t.Errorf("process/ancestors not copied: %+v %+v", a.Process, a.Ancestors)
	}
	a.Process.Args[0] = "changed"
	a.Ancestors[0].Exe = "changed"
	if ev.Process.Args[0] != "sh" || ev.Ancestors[0].Exe != "/usr/sbin/nginx" {
		t.Error("the alert shares the event's slices")
	}
	raw, err := json.Marshal(p.NewAlert(ev, p.Rules[1]))
	if err != nil || !strings.Contains(string(raw), `"tags":[]`) || !strings.Contains(string(raw), `"kind":"alert"`) {
		t.Errorf("alert JSON %s %v", raw, err)
	}
}

// TestEvaluateConcurrent: a Program serves many goroutines (run with
// -race to check).
func TestEvaluateConcurrent(t *testing.T) {
	p := condProgram(t, `process.ancestors.exists(a, a.exe == "/usr/sbin/nginx") && process.uid >= 0`)
	ev := execEv(proc("/bin/sh"), parent("/usr/sbin/nginx"))
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 200 {
				ok = ok && len(p.Evaluate(ev, 1)) == 1 && p.MatchEvent(ev) == 1
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("a concurrent evaluation did not match")
		}
	}
}
