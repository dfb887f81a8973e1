package policy

import (
	"bytes"
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
)

// FuzzParse: no input makes Parse (or Compile and evaluation of what it
// accepts) panic, and whatever Parse accepts compiles.
func FuzzParse(f *testing.F) {
	f.Add(defaultsYAML)
	f.Add([]byte(""))
	f.Add([]byte("rules: []\n"))
	f.Add([]byte(ruleDoc("    events: [open]\n    match: {path: {glob: [\"/etc/**/x\"], not_in: [/etc/x]}, flags: [O_TRUNC]}\n    condition: 'path.startsWith(\"/etc\")'\n")))
	f.Add([]byte("lists:\n  a: [\"@b\"]\n  b: [x]\nrules:\n  - {name: r, description: d, severity: low, events: [connect], match: {destination: {cidr: [\"@b\"], ports: [\"22\"]}}}\n"))
	f.Add([]byte("a: &a [x]\nlists: {l: *a}\n"))
	// Mutations of the built-in file: lines dropped, swapped, cut.
	lines := bytes.Split(defaultsYAML, []byte("\n"))
	for _, i := range []int{10, 200, 400, 600, len(lines) - 5} {
		if i < len(lines) {
			m := append(append([][]byte{}, lines[:i]...), lines[i+1:]...)
			f.Add(bytes.Join(m, []byte("\n")))
		}
	}
	f.Add(defaultsYAML[:len(defaultsYAML)/2])
	f.Add(bytes.ReplaceAll(defaultsYAML, []byte("exact"), []byte("glob")))
	f.Add(bytes.ReplaceAll(defaultsYAML, []byte("alert"), []byte("kill")))
	f.Add(bytes.ReplaceAll(defaultsYAML, []byte("    - /"), []byte("    - ")))

	probes := []*event.Event{
		execEv(proc("/bin/sh", "sh", "-c", "id"), parent("/usr/sbin/nginx")),
		openEv(proc("/usr/bin/cat"), "/etc/shadow", "read"),
		fileEv(event.KindRename, proc("/usr/bin/mv"), event.File{Path: "/tmp/a", NewPath: "/etc/cron.d/a"}),
		fileEv(event.KindMount, proc("/usr/bin/mount"), event.File{Path: "/x", FSType: "cgroup"}),
		connect("10.0.0.1", 22),
		netEv(event.KindSocket, proc("/x"), event.Net{Family: "AF_PACKET", Type: "SOCK_RAW"}),
		privEv(event.KindPtrace, proc("/x"), event.Priv{Request: "PTRACE_ATTACH"}),
		{Kind: event.KindOpen}, // no payload at all
		{Kind: event.KindConnect},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data, map[string][]string{"known": {"/k", "x"}})
		if err != nil {
			if file != nil {
				t.Fatal("a File with an error")
			}
			return
		}
		p, err := Compile(file.Rules)
		if err != nil {
			t.Fatalf("accepted but does not compile: %v", err)
		}
		for _, ev := range probes {
			p.Evaluate(ev, p.MatchEvent(ev)|p.KernelMask(ev))
		}
	})
}
