package policy

import (
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
)

// compileYAML parses and compiles one rule file with no known lists.
func compileYAML(t testing.TB, src string) *Program {
	t.Helper()
	f, err := Parse("test.yaml", []byte(src), nil)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p, err := Compile(f.Rules)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

// bitOf is the bit of the rule named name in p.
func bitOf(t testing.TB, p *Program, name string) uint64 {
	t.Helper()
	for i, r := range p.Rules {
		if r.Name == name {
			return 1 << i
		}
	}
	t.Fatalf("no rule %q", name)
	return 0
}

// proc builds a process with an executable and argv.
func proc(exe string, args ...string) event.Process {
	if len(args) == 0 {
		args = []string{exe[strings.LastIndexByte(exe, '/')+1:]}
	}
	return event.Process{PID: 100, PPID: 50, UID: 1000, Exe: exe, Comm: baseName(exe), Args: args}
}

// evOpts adjust a test event.
type evOpt func(*event.Event)

func parent(exe string, args ...string) evOpt {
	return func(ev *event.Event) {
		p := proc(exe, args...)
		ev.Ancestors = append([]event.Ancestor{{PID: 50, Comm: p.Comm, Exe: p.Exe, Args: p.Args}}, ev.Ancestors...)
	}
}

// ancestors appends ancestors (nearest first) after any parent already set.
func ancestors(exes ...string) evOpt {
	return func(ev *event.Event) {
		for i, e := range exes {
			ev.Ancestors = append(ev.Ancestors, event.Ancestor{PID: uint32(40 - i), Comm: baseName(e), Exe: e, Args: []string{e}})
		}
	}
}

func inContainer(id string) evOpt {
	return func(ev *event.Event) { ev.Process.ContainerID = id }
}

func ppid(n uint32) evOpt {
	return func(ev *event.Event) { ev.Process.PPID = n }
}

func build(ev *event.Event, opts []evOpt) *event.Event {
	for _, o := range opts {
		o(ev)
	}
	return ev
}

func execEv(p event.Process, opts ...evOpt) *event.Event {
	return build(&event.Event{Kind: event.KindExec, Process: p, Exec: &event.Exec{Filename: p.Exe}}, opts)
}

func fileEv(k event.Kind, p event.Process, f event.File, opts ...evOpt) *event.Event {
	return build(&event.Event{Kind: k, Process: p, File: &f}, opts)
}

// openEv is an open of path with access (read, write, read_write) and flags.
func openEv(p event.Process, path, access string, flags ...string) *event.Event {
	return fileEv(event.KindOpen, p, event.File{Path: path, Access: access, Flags: flags})
}

func netEv(k event.Kind, p event.Process, n event.Net, opts ...evOpt) *event.Event {
	return build(&event.Event{Kind: k, Process: p, Net: &n}, opts)
}

func privEv(k event.Kind, p event.Process, pr event.Priv, opts ...evOpt) *event.Event {
	return build(&event.Event{Kind: k, Process: p, Priv: &pr}, opts)
}

func mode(m uint32) *uint32 { return &m }

// wantErr fails unless err's message contains every part.
func wantErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}
