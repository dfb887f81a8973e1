package policy

import (
	"fmt"
	"github.com/vigil-dev/vigil/internal/event"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func writeFiles(t *testing.T, files ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, f := range files {
		p := filepath.Join(dir, fmt.Sprintf("f%d.yaml", i))
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func byName(rules []*Rule) map[string]*Rule {
	m := map[string]*Rule{}
	for _, r := range rules {
		m[r.Name] = r
	}
	return m
}

func TestLoadDefaults(t *testing.T) {
	def, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := Load(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != len(def) || len(def) == 0 {
		t.Fatalf("Load(nil, true) has %d rules, Defaults %d", len(rules), len(def))
	}
	for _, r := range rules {
		if r.Source != Builtin || !r.Enabled || r.Action != "alert" {
			t.Errorf("built-in %s: source %q enabled %v action %q", r.Name, r.Source, r.Enabled, r.Action)
		}
	}
	if rules, err := Load(nil, false); err != nil || len(rules) != 0 {
		t.Errorf("Load(nil, false) = %d rules, %v", len(rules), err)
	}
	// Each call is a fresh copy: editing one does not change the next.
	def[0].Enabled = false
	again, _ := Defaults()
	if !again[0].Enabled {
		t.Error("Defaults returned shared rules")
	}
}

func TestLoadReplaceDisable(t *testing.T) {
	files := writeFiles(t, `
lists:
  my_shells: ["@shell_binaries", /opt/sh]
disable: [exec-from-temp-dir]
rules:
  - name: reverse-shell
    description: mine
    severity: low
    events: [dup]
    match: {exe: {exact: ["@my_shells"]}}
  - name: mine
    description: d
    severity: low
    events: [exec]
`, `
disable: [mine, ptrace-attach]
rules:
  - name: later
    description: d
    severity: info
    events: [exec]
    match: {exe: {exact: ["@my_shells"]}}
`)
	rules, err := Load(files, true)
	if err != nil {
		t.Fatal(err)
	}
	m := byName(rules)
	def, _ := Defaults()
	if len(rules) != len(def)+2 {
		t.Errorf("%d rules, want %d", len(rules), len(def)+2)
	}
	rs := m["reverse-shell"]
	if rs.Description != "mine" || rs.Source != files[0] {
		t.Errorf("reverse-shell not replaced: %+v", rs)
	}
	// Replaced in place: it keeps the built-in's position.
	for i, r := range def {
		if r.Name == "reverse-shell" && rules[i] != rs {
			t.Errorf("replacement moved from position %d", i)
		}
	}
	if !strings.Contains(strings.Join(rs.Match.Exe.Exact, " "), "/usr/bin/dash") || rs.Match.Exe.Exact[len(rs.Match.Exe.Exact)-1] != "/opt/sh" {
		t.Errorf("built-in list not expanded in a user list: %v", rs.Match.Exe.Exact)
	}
	for name, want := range map[string]bool{"exec-from-temp-dir": false, "mine": false, "ptrace-attach": false, "later": true, "reverse-shell": true} {
		if m[name].Enabled != want {
			t.Errorf("%s enabled %v, want %v", name, m[name].Enabled, want)
		}
	}
	p, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != len(rules)-3 {
		t.Errorf("compiled %d rules, want the %d enabled", len(p.Rules), len(rules)-3)
	}

	// Without the built-ins, their lists still work, and disabling a
	// built-in is not an error.
	rules, err = Load(files, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 {
		t.Errorf("without built-ins: %d rules", len(rules))
	}
}

func TestLoadErrors(t *testing.T) {
	many := "rules:\n"
	for i := range 40 {
		many += fmt.Sprintf("  - {name: m%d, description: d, severity: low, events: [open]}\n", i)
	}
	for _, c := range []struct {
		name  string
		files []string
		want  []string
	}{
		{"duplicate across files", []string{
			"rules:\n  - {name: a, description: d, severity: low, events: [open]}\n",
			"rules:\n  - {name: a, description: d, severity: low, events: [open]}\n"},
			[]string{"f1.yaml:2", `rule "a"`, "duplicate rule name (also in", "f0.yaml:2); only built-in rules can be replaced"}},
		{"replace twice", []string{
			"rules:\n  - {name: reverse-shell, description: d, severity: low, events: [dup]}\n",
			"rules:\n  - {name: reverse-shell, description: d, severity: low, events: [dup]}\n"},
			[]string{"f1.yaml:2", "duplicate rule name"}},
		{"disable unknown", []string{"disable: [nope]\n"}, []string{"f0.yaml: disable: no rule \"nope\" was loaded before this file"}},
		{"disable a later rule", []string{"disable: [b]\n", "rules:\n  - {name: b, description: d, severity: low, events: [open]}\n"},
			[]string{`no rule "b" was loaded before this file`}},
		{"list defined twice", []string{"lists:\n  x: [a]\n", "lists:\n  x: [b]\n"}, []string{"f1.yaml: lists.x: list defined twice"}},
		{"built-in list redefined", []string{"lists:\n  shell_binaries: [/bin/sh]\n"}, []string{"lists.shell_binaries: list defined twice"}},
		{"too many in total", []string{many}, []string{"f0.yaml", "more than 64 enabled rules in total: vigil evaluates at most 64 rules in the kernel"}},
		{"parse error", []string{"rules: [\n"}, []string{"f0.yaml: yaml: line"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFiles(t, c.files...), true)
			wantErr(t, err, c.want...)
		})
	}
	_, err := Load([]string{filepath.Join(t.TempDir(), "missing.yaml")}, true)
	wantErr(t, err, "missing.yaml", "no such file")

	big := writeFiles(t, strings.Repeat("#", MaxFileSize+1))
	_, err = Load(big, false)
	wantErr(t, err, "f0.yaml: larger than 1048576 bytes")

	// What would block the read (a named pipe nobody writes, a device),
	// or is no file, is refused at once, by name; a link to a regular
	// file is fine.
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(writeFiles(t, "rules: []\n")[0], link); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo:        fifo + ": a named pipe: a rule file must be a regular file",
		"/dev/null": "/dev/null: a device: a rule file must be a regular file",
		dir:         dir + ": a directory: a rule file must be a regular file",
	} {
		_, err = Load([]string{path}, false)
		wantErr(t, err, want)
	}
	if _, err := Load([]string{link}, false); err != nil {
		t.Errorf("a link to a rule file: %v", err)
	}
}

func TestCompileLimits(t *testing.T) {
	var rules []*Rule
	for i := range MaxRules + 1 {
		rules = append(rules, &Rule{Name: fmt.Sprintf("r%d", i), Description: "d", Severity: "low", Action: "alert",
			Enabled: true, Events: []event.Kind{event.KindOpen}, Source: "hand"})
	}
	_, err := Compile(rules)
	wantErr(t, err, `hand: rule "r64": more than 64 enabled rules`)
	_, err = Compile([]*Rule{rules[0], rules[0]})
	wantErr(t, err, `hand: rule "r0": duplicate rule name`)

	// 4096 trie entries per dimension: four rules of 1000 distinct
	// patterns fit, a fifth with 97 more does not.
	var pats []string
	for i := range 4097 {
		pats = append(pats, fmt.Sprintf("/p%d", i))
	}
	var big []*Rule
	for i := range 5 {
		lo, hi := i*1000, min(i*1000+1000, len(pats))
		big = append(big, &Rule{Name: fmt.Sprintf("b%d", i), Description: "d", Severity: "low", Action: "alert", Enabled: true, Source: "hand",
			Events: []event.Kind{event.KindOpen}, Match: Match{Path: &StringSelector{Exact: pats[lo : lo+(hi-lo)/2], NotPrefix: pats[lo+(hi-lo)/2 : hi]}}})
	}
	if _, err := Compile(big[:4]); err != nil {
		t.Fatalf("4000 entries: %v", err)
	}
	_, err = Compile(big)
	wantErr(t, err, `hand: rule "b4": the kernel's path table would have more than 4096 entries`)
}
