package policy

import (
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
)

// BenchmarkEvaluate is the userspace cost of one kernel-matched event whose
// rule has a CEL condition over the lineage (the activation is built lazily
// from the event, without marshalling it).
func BenchmarkEvaluate(b *testing.B) {
	p := compileYAML(b, `
rules:
  - name: c
    description: d
    severity: low
    events: [open]
    match: {path: {exact: [/etc/shadow]}}
    condition: '!process.ancestors.exists(a, a.comm == "sshd") && process.uid == 0'
`)
	ev := fileEv(event.KindOpen, rootProc("/usr/bin/cat", "cat", "/etc/shadow"), event.File{Path: "/etc/shadow", Access: "read"},
		parent("/usr/bin/bash"), ancestors("/usr/sbin/cron", "/usr/lib/systemd/systemd"))
	mask := p.KernelMask(ev)
	if len(p.Evaluate(ev, mask)) != 1 {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(ev, mask)
	}
}

// BenchmarkEvaluateGlob is a userspace glob confirmation without CEL.
func BenchmarkEvaluateGlob(b *testing.B) {
	p := compileYAML(b, `
rules:
  - {name: g, description: d, severity: low, events: [open], match: {path: {glob: ["/home/*/.config/systemd/**"]}}}
`)
	ev := openEv(proc("/usr/bin/bash"), "/home/bob/.config/systemd/user/x.service", "write", "O_WRONLY")
	mask := p.KernelMask(ev)
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(ev, mask)
	}
}

// BenchmarkMatchEventDefaults is the whole Go evaluation of the built-in
// rules for an exec event (the agent's fallback when the kernel could not
// decide).
func BenchmarkMatchEventDefaults(b *testing.B) {
	rules, err := Defaults()
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(rules)
	if err != nil {
		b.Fatal(err)
	}
	ev := execEv(proc("/usr/bin/dash", "sh", "-c", "id"), parent("/usr/sbin/nginx"), ancestors("/usr/lib/systemd/systemd"))
	b.ReportAllocs()
	for b.Loop() {
		p.MatchEvent(ev)
	}
}
