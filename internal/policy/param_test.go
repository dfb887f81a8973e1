package policy

import (
	"slices"
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/linuxabi"
)

func TestParams(t *testing.T) {
	oDirectory, _ := linuxabi.OpenFlags.Lookup("O_DIRECTORY") // arm64's is not x86's
	for _, c := range []struct {
		name  string
		match string // YAML of the rule's match
		event string // kind
		want  Param
		ok    []uint64
		notOK []uint64
	}{
		{"open flags", `{flags: [O_TRUNC, O_APPEND]}`, "open",
			Param{AnyBits: 01000 | 02000}, []uint64{01000 | 1, 02000}, []uint64{0, 1, 0100}},
		{"O_SYNC is not O_DSYNC", `{flags: [O_SYNC]}`, "open",
			Param{AnyBits: 04000000}, []uint64{04010000}, []uint64{010000}},
		{"O_TMPFILE is not O_DIRECTORY", `{flags: [TMPFILE]}`, "open",
			Param{AnyBits: 020000000}, []uint64{020000000 | oDirectory}, []uint64{oDirectory}},
		{"access read", `{access: [read]}`, "open",
			Param{ValueMask: 3, Values: []uint64{0, 2}}, []uint64{0, 2, 0100}, []uint64{1, 01001}},
		{"access write", `{access: [write]}`, "open",
			Param{ValueMask: 3, Values: []uint64{1, 2}}, []uint64{1, 2, 01101}, []uint64{0, 01000}},
		{"flags and access", `{flags: [O_TRUNC], access: [write]}`, "open",
			Param{AnyBits: 01000, ValueMask: 3, Values: []uint64{1, 2}}, []uint64{01001, 01002}, []uint64{01000, 1}},
		{"chmod names", `{mode: [S_ISUID, S_ISGID]}`, "chmod",
			Param{AnyBits: 06000}, []uint64{04755, 02775}, []uint64{0755, 01777}},
		{"chmod octal", `{mode: ["0002", S_IXOTH]}`, "chmod",
			Param{AnyBits: 3}, []uint64{0666, 0775}, []uint64{0664}},
		{"socket family", `{family: [AF_PACKET]}`, "socket",
			Param{ValueMask: 0xffff, Values: []uint64{17}}, []uint64{17 | 3<<16, 17 | 2<<16}, []uint64{2 | 3<<16}},
		{"socket family and type", `{family: [AF_INET, AF_INET6], type: [SOCK_RAW]}`, "socket",
			Param{ValueMask: 0xfffff, Values: []uint64{2 | 3<<16, 10 | 3<<16}}, []uint64{2 | 3<<16, 10 | 3<<16}, []uint64{16 | 3<<16, 2 | 1<<16}},
		{"socket type", `{type: [SOCK_RAW]}`, "socket",
			Param{ValueMask: 0xf0000, Values: []uint64{3 << 16}}, []uint64{16 | 3<<16, 2 | 3<<16}, []uint64{2 | 2<<16}},
		{"ptrace", `{request: [PTRACE_ATTACH, SEIZE, PTRACE_TRACEME]}`, "ptrace",
			Param{ValueMask: ^uint64(0), Values: []uint64{0, 16, 0x4206}}, []uint64{0, 16, 0x4206}, []uint64{1, 0x10000}},
		{"bpf", `{cmd: [BPF_PROG_LOAD]}`, "bpf",
			Param{ValueMask: ^uint64(0), Values: []uint64{5}}, []uint64{5}, []uint64{0, 6}},
		{"none", `{}`, "open", Param{}, []uint64{0, 1, 01000}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := compileYAML(t, "rules:\n  - {name: r, description: d, severity: low, events: ["+c.event+"], match: "+c.match+"}\n")
			got := p.Params[0]
			if got.AnyBits != c.want.AnyBits || got.ValueMask != c.want.ValueMask || !slices.Equal(got.Values, c.want.Values) {
				t.Fatalf("param %+v, want %+v", got, c.want)
			}
			for _, a := range c.ok {
				if !got.Match(a) {
					t.Errorf("Match(%#o) = false", a)
				}
			}
			for _, a := range c.notOK {
				if got.Match(a) {
					t.Errorf("Match(%#o) = true", a)
				}
			}
		})
	}
}

// TestEventArg checks that the argument rebuilt from an event's names is
// the kernel's, so that MatchEvent and the kernel agree.
func TestEventArg(t *testing.T) {
	p := proc("/usr/bin/x")
	for _, c := range []struct {
		ev   *event.Event
		want uint64
		ok   bool
	}{
		{openEv(p, "/f", "write", "O_WRONLY", "O_CREAT", "O_TRUNC", "O_CLOEXEC"), 01 | 0100 | 01000 | 02000000, true},
		{openEv(p, "/f", "read_write", "O_RDWR"), 2, true},
		{openEv(p, "/f", "read"), 0, true},
		{openEv(p, "/f", "read", "O_SYNC"), 04010000, true},
		{openEv(p, "/f", "read", "0x40000000"), 0x40000000, true}, // a bit no name covers
		{openEv(p, "/f", "read", "O_BOGUS"), 0, false},
		{fileEv(event.KindChmod, p, event.File{Path: "/f", Mode: mode(04755)}), 04755, true},
		{fileEv(event.KindChmod, p, event.File{Path: "/f"}), 0, false},
		{netEv(event.KindSocket, p, event.Net{Family: "AF_PACKET", Type: "SOCK_RAW"}), 17 | 3<<16, true},
		{netEv(event.KindSocket, p, event.Net{Family: "AF_INET6", Type: "SOCK_DGRAM"}), 10 | 2<<16, true},
		{privEv(event.KindPtrace, p, event.Priv{Request: "PTRACE_SEIZE"}), 0x4206, true},
		{privEv(event.KindPtrace, p, event.Priv{Request: "16"}), 16, true},
		{privEv(event.KindBPF, p, event.Priv{Cmd: "BPF_MAP_CREATE"}), 0, true},
		{privEv(event.KindBPF, p, event.Priv{}), 0, false},
	} {
		got, ok := eventArg(c.ev)
		if got != c.want || ok != c.ok {
			t.Errorf("%s %+v%+v%+v: arg %#o %v, want %#o %v", c.ev.Kind, c.ev.File, c.ev.Net, c.ev.Priv, got, ok, c.want, c.ok)
		}
	}
}

func TestParamMatchEvent(t *testing.T) {
	p := compileYAML(t, `
rules:
  - {name: trunc, description: d, severity: low, events: [open], match: {flags: [O_TRUNC], access: [write]}}
  - {name: raw, description: d, severity: low, events: [socket], match: {family: [AF_INET], type: [SOCK_RAW]}}
  - {name: attach, description: d, severity: low, events: [ptrace], match: {request: [PTRACE_ATTACH]}}
`)
	pr := proc("/usr/bin/x")
	for _, c := range []struct {
		ev   *event.Event
		want uint64
	}{
		{openEv(pr, "/f", "write", "O_WRONLY", "O_TRUNC"), 1},
		{openEv(pr, "/f", "read", "O_TRUNC"), 0},
		{openEv(pr, "/f", "write", "O_WRONLY", "O_APPEND"), 0},
		{netEv(event.KindSocket, pr, event.Net{Family: "AF_INET", Type: "SOCK_RAW"}), 2},
		{netEv(event.KindSocket, pr, event.Net{Family: "AF_INET", Type: "SOCK_STREAM"}), 0},
		{privEv(event.KindPtrace, pr, event.Priv{Request: "PTRACE_ATTACH"}), 4},
		{privEv(event.KindPtrace, pr, event.Priv{Request: "PTRACE_PEEKDATA"}), 0},
		{privEv(event.KindPtrace, pr, event.Priv{Request: "PTRACE_NOSUCH"}), 0},
	} {
		if got := p.MatchEvent(c.ev); got != c.want {
			t.Errorf("%s: %b, want %b", c.ev.Kind, got, c.want)
		}
	}
}

func TestParamValueLimit(t *testing.T) {
	_, err := Parse("p.yaml", []byte(`
rules:
  - name: many
    description: d
    severity: low
    events: [socket]
    match: {family: [AF_INET, AF_INET6, AF_UNIX], type: [SOCK_RAW, SOCK_DGRAM, SOCK_STREAM]}
`), nil)
	wantErr(t, err, "p.yaml:3", `rule "many"`, "9 values after expansion; the kernel compares at most 8")
}
