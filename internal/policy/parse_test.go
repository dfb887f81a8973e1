package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// ruleDoc is a file with one rule: base fields plus extra YAML lines.
func ruleDoc(extra string) string {
	return "rules:\n  - name: x\n    description: d\n    severity: low\n" + extra
}

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, c := range []struct {
		name string
		src  string
		want []string // substrings of the error; the file name is always checked
	}{
		{"yaml syntax", "rules: [\n", []string{"yaml: line"}},
		{"unknown top key", "rulez: []\n", []string{"line 1", "field rulez not found"}},
		{"unknown rule key", ruleDoc("    events: [open]\n    bogus: 1\n"), []string{"line 6", "field bogus not found"}},
		{"unknown selector", ruleDoc("    events: [open]\n    match: {paths: {exact: [/x]}}\n"), []string{"field paths not found"}},
		{"unknown selector key", ruleDoc("    events: [open]\n    match: {path: {exakt: [/x]}}\n"), []string{"field exakt not found"}},
		{"two documents", "rules: []\n---\nrules: []\n", []string{"more than one YAML document"}},
		{"missing name", "rules:\n  - {description: d, severity: low, events: [open]}\n", []string{"test.yaml:2: name: required"}},
		{"bad name", "rules:\n  - {name: Bad_Name, description: d, severity: low, events: [open]}\n", []string{`name: "Bad_Name": want lower-case`}},
		{"long name", "rules:\n  - {name: " + strings.Repeat("n", 65) + ", description: d, severity: low, events: [open]}\n", []string{"longer than 64"}},
		{"duplicate name", "rules:\n  - {name: x, description: d, severity: low, events: [open]}\n  - {name: x, description: d, severity: low, events: [open]}\n",
			[]string{`test.yaml:3: rule "x": duplicate rule name (first at line 2)`}},
		{"no description", "rules:\n  - {name: x, severity: low, events: [open]}\n", []string{`rule "x": description: required`}},
		{"bad severity", "rules:\n  - {name: x, description: d, severity: urgent, events: [open]}\n", []string{`rule "x": severity: "urgent": want one of info, low, medium, high, critical`}},
		{"no events", ruleDoc(""), []string{`rule "x": events: at least one`}},
		{"empty events", ruleDoc("    events: []\n"), []string{`rule "x": events: at least one`}},
		{"unknown kind", ruleDoc("    events: [opne]\n"), []string{`rule "x": events "opne": not a rule event kind`}},
		{"not a rule kind", ruleDoc("    events: [exit]\n"), []string{`events "exit": not a rule event kind`}},
		{"bad action", ruleDoc("    events: [open]\n    action: block\n"), []string{`rule "x": action: "block": want alert, kill or deny`}},
		{"empty tag", ruleDoc("    events: [open]\n    tags: [\"\"]\n"), []string{`tags "": tags must be non-empty`}},
		{"path on exec", ruleDoc("    events: [exec]\n    match: {path: {exact: [/x]}}\n"), []string{`rule "x": match.path: path is not a field of exec events; use exe`}},
		{"args on open", ruleDoc("    events: [open]\n    match: {args: {any: [-x]}}\n"), []string{`match.args: args is not a field of open events (only of exec)`}},
		{"field on one of two kinds", ruleDoc("    events: [open, unlink]\n    match: {flags: [O_TRUNC]}\n"), []string{"flags is not a field of unlink events"}},
		{"name on mount", ruleDoc("    events: [mount]\n    match: {name: {exact: [x]}}\n"), []string{"name is not a field of mount events"}},
		{"destination on open", ruleDoc("    events: [open]\n    match: {destination: {ports: [\"22\"]}}\n"), []string{"destination is not a field of open events (only of connect)"}},
		{"empty selector", ruleDoc("    events: [open]\n    match: {path: {}}\n"), []string{`match.path: no patterns`}},
		{"empty pattern", ruleDoc("    events: [open]\n    match: {path: {exact: [\"\"]}}\n"), []string{`match.path.exact "": empty pattern`}},
		{"exact too long", ruleDoc("    events: [open]\n    match: {path: {exact: [/" + strings.Repeat("x", 254) + "]}}\n"), []string{"255 bytes; at most 254"}},
		{"prefix too long", ruleDoc("    events: [open]\n    match: {path: {prefix: [/" + strings.Repeat("x", 255) + "]}}\n"), []string{"256 bytes; at most 255"}},
		{"not_in too long", ruleDoc("    events: [open]\n    match: {path: {not_in: [" + long + "]}}\n"), []string{"match.path.not_in", "300 bytes; at most 254"}},
		{"NUL in pattern", ruleDoc("    events: [open]\n    match: {path: {prefix: [\"/a\\0b\"]}}\n"), []string{"NUL byte"}},
		{"bad glob", ruleDoc("    events: [open]\n    match: {path: {glob: [\"/etc/[a\"]}}\n"), []string{`match.path.glob "/etc/[a": bad glob syntax`}},
		{"broad glob", ruleDoc("    events: [open]\n    match: {path: {glob: [\"**\"]}}\n"),
			[]string{`test.yaml:2: rule "x": match.path.glob "**": too broad to filter in the kernel; use name: or a longer literal prefix`}},
		{"root glob", ruleDoc("    events: [open]\n    match: {path: {glob: [\"/*/shadow\"]}}\n"), []string{`match.path.glob "/*/shadow": too broad`}},
		{"bad not_glob", ruleDoc("    events: [open]\n    match: {path: {not_glob: [\"[\"]}}\n"), []string{`match.path.not_glob "[": bad glob syntax`}},
		{"name prefix", ruleDoc("    events: [open]\n    match: {name: {prefix: [x]}}\n"), []string{"match.name: takes only exact and not_in"}},
		{"name with slash", ruleDoc("    events: [open]\n    match: {name: {not_in: [a/b]}}\n"), []string{`match.name.not_in "a/b": a base name has no '/'`}},
		{"name too long", ruleDoc("    events: [open]\n    match: {name: {exact: [" + strings.Repeat("n", 64) + "]}}\n"), []string{"64 bytes; at most 63"}},
		{"empty args", ruleDoc("    events: [exec]\n    match: {args: {}}\n"), []string{"match.args: no patterns"}},
		{"bad args glob", ruleDoc("    events: [exec]\n    match: {args: {glob: [\"[\"]}}\n"), []string{`match.args.glob "[": bad glob syntax`}},
		{"unknown flag", ruleDoc("    events: [open]\n    match: {flags: [O_TRUNK]}\n"), []string{`match.flags "O_TRUNK": unknown open flag; known: O_WRONLY`}},
		{"O_RDONLY", ruleDoc("    events: [open]\n    match: {flags: [O_RDONLY]}\n"), []string{"O_RDONLY is 0, not a flag bit; use access: [read]"}},
		{"empty flags", ruleDoc("    events: [open]\n    match: {flags: []}\n"), []string{"match.flags: empty list"}},
		{"bad access", ruleDoc("    events: [open]\n    match: {access: [exec]}\n"), []string{`match.access "exec": want read or write`}},
		{"bad mode", ruleDoc("    events: [chmod]\n    match: {mode: [S_ISUUID]}\n"), []string{`match.mode "S_ISUUID": not an S_* name or octal mode`}},
		{"mode range", ruleDoc("    events: [chmod]\n    match: {mode: [\"17777\"]}\n"), []string{"out of range"}},
		{"mode zero", ruleDoc("    events: [chmod]\n    match: {mode: [\"0\"]}\n"), []string{"mode 0 has no bits"}},
		{"bad family", ruleDoc("    events: [socket]\n    match: {family: [AF_FOO]}\n"), []string{`match.family "AF_FOO": unknown address family`}},
		{"bad type", ruleDoc("    events: [socket]\n    match: {type: [SOCK_FOO]}\n"), []string{`match.type "SOCK_FOO": unknown socket type`}},
		{"bad request", ruleDoc("    events: [ptrace]\n    match: {request: [PTRACE_FOO]}\n"), []string{`match.request "PTRACE_FOO": unknown ptrace request`}},
		{"bad cmd", ruleDoc("    events: [bpf]\n    match: {cmd: [BPF_FOO]}\n"), []string{`match.cmd "BPF_FOO": unknown bpf command`}},
		{"too many values", ruleDoc("    events: [ptrace]\n    match: {request: [TRACEME, PEEKTEXT, PEEKDATA, PEEKUSER, POKETEXT, POKEDATA, POKEUSER, CONT, KILL]}\n"),
			[]string{"9 values after expansion; the kernel compares at most 8"}},
		{"bad cidr", ruleDoc("    events: [connect]\n    match: {destination: {cidr: [10.0.0.0/33]}}\n"), []string{`match.destination.cidr "10.0.0.0/33": not a CIDR`}},
		{"bad address", ruleDoc("    events: [connect]\n    match: {destination: {not_cidr: [example.com]}}\n"), []string{`match.destination.not_cidr "example.com": not an IP address`}},
		{"mapped cidr", ruleDoc("    events: [connect]\n    match: {destination: {cidr: [\"::ffff:10.0.0.0/104\"]}}\n"), []string{"write it as IPv4"}},
		{"zone", ruleDoc("    events: [connect]\n    match: {destination: {cidr: [\"fe80::1%eth0\"]}}\n"), []string{"zones are not supported"}},
		{"bad port", ruleDoc("    events: [connect]\n    match: {destination: {ports: [\"65536\"]}}\n"), []string{`match.destination.ports "65536": not a port number 1-65535`}},
		{"port zero", ruleDoc("    events: [connect]\n    match: {destination: {not_ports: [\"0\"]}}\n"), []string{`not_ports "0": not a port number`}},
		{"empty destination", ruleDoc("    events: [connect]\n    match: {destination: {}}\n"), []string{"match.destination: no patterns"}},
		{"kill with glob", ruleDoc("    events: [open]\n    action: kill\n    match: {path: {glob: [/etc/*.conf]}}\n"),
			[]string{`rule "x": match.path.glob: is checked in userspace, and action kill happens in the kernel; use exact or prefix patterns`}},
		{"kill with not_glob", ruleDoc("    events: [exec]\n    action: kill\n    match: {exe: {not_glob: [/usr/*/x]}}\n"), []string{"match.exe.not_glob: is checked in userspace"}},
		{"kill with args", ruleDoc("    events: [exec]\n    action: kill\n    match: {args: {any: [-e]}}\n"), []string{"match.args: is checked in userspace, and action kill"}},
		{"kill with fstype", ruleDoc("    events: [mount]\n    action: kill\n    match: {fstype: [cgroup]}\n"), []string{"match.fstype: is checked in userspace"}},
		{"kill with condition", ruleDoc("    events: [exec]\n    action: kill\n    condition: 'process.uid == 0'\n"), []string{"condition: is checked in userspace, and action kill"}},
		{"deny on open", ruleDoc("    events: [open]\n    action: deny\n"), []string{"deny is only for events: [connect]"}},
		{"deny with condition", ruleDoc("    events: [connect]\n    action: deny\n    condition: 'true'\n"), []string{"action deny happens in the kernel"}},
		{"condition syntax", ruleDoc("    events: [exec]\n    condition: 'process.uid =='\n"), []string{`rule "x": condition: ERROR`, "Syntax error"}},
		{"condition undeclared", ruleDoc("    events: [exec]\n    condition: 'proces.uid == 0'\n"), []string{"undeclared reference to 'proces'"}},
		{"condition not bool", ruleDoc("    events: [exec]\n    condition: 'process.uid'\n"), []string{"must be a bool expression, not dyn"}},
		{"condition not bool literal", ruleDoc("    events: [exec]\n    condition: '1 + 2'\n"), []string{"must be a bool expression, not int"}},
		// The variables are dyn to CEL; the event types know their fields.
		{"condition with an unknown field", ruleDoc("    events: [exec]\n    condition: 'process.nosuchfield == 3'\n"),
			[]string{`test.yaml:2: rule "x": condition: unknown field "nosuchfield": process has pid`}},
		{"condition with an unknown ancestor field", ruleDoc("    events: [exec]\n    condition: 'ancestors.exists(a, a.exe_path == \"/bin/sh\")'\n"),
			[]string{`unknown field "exe_path": an ancestor has pid, comm, exe, args`}},
		{"condition with an unknown endpoint field", ruleDoc("    events: [connect]\n    condition: 'peer.ip == \"10.0.0.1\"'\n"),
			[]string{`unknown field "ip": an endpoint has addr, port`}},
		{"condition with an unknown field of process.ancestors", ruleDoc("    events: [exec]\n    condition: 'process.ancestors[0].name == \"x\"'\n"),
			[]string{`unknown field "name": an ancestor has`}},
		{"condition too long", ruleDoc("    events: [exec]\n    condition: '" + strings.Repeat("true && ", 600) + "true'\n"), []string{"condition: 4804 bytes; at most 4096"}},
		{"condition unknown list", ruleDoc("    events: [exec]\n    condition: 'process.exe in @nope'\n"), []string{`condition: unknown list "@nope"`}},
		{"unknown list", ruleDoc("    events: [open]\n    match: {path: {exact: [\"@nope\"]}}\n"), []string{`rule "x": match.path.exact: unknown list "@nope"`}},
		{"unknown list in list", "lists:\n  a: [\"@b\"]\n", []string{`lists.a "@b": unknown list`}},
		{"list cycle", "lists:\n  a: [\"@b\"]\n  b: [\"@a\"]\n", []string{"list refers to itself"}},
		{"bad list name", "lists:\n  a-b: [x]\n", []string{`list name "a-b": want letters, digits and '_'`}},
		{"list bomb", listBomb(), []string{"more than 4096 items after expansion"}},
		{"selector too big", ruleDoc("    events: [open]\n    match: {path: {exact: [\"@big\"], prefix: [\"@big\"]}}\n"), []string{"match.path: 1200 patterns; at most 1024"}},
		{"disable bad name", "disable: [Bad]\n", []string{"disable:", "want lower-case"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			known := map[string][]string{"big": make([]string, 600)}
			for i := range known["big"] {
				known["big"][i] = fmt.Sprintf("/p%d", i)
			}
			f, err := Parse("test.yaml", []byte(c.src), known)
			if f != nil {
				t.Errorf("got a File with an error")
			}
			wantErr(t, err, append([]string{"test.yaml"}, c.want...)...)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("%T is not a *Error", err)
			}
		})
	}
}

// listBomb is a file whose lists double at each level.
func listBomb() string {
	var b strings.Builder
	b.WriteString("lists:\n  l0: [a, b]\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "  l%d: [\"@l%d\", \"@l%d\"]\n", i, i-1, i-1)
	}
	return b.String()
}

// TestParseExpansionBudget: rules naming a long list everywhere are
// refused before they take much memory.
func TestParseExpansionBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("lists:\n  l: [")
	for i := range 1000 {
		fmt.Fprintf(&b, "/p%d,", i)
	}
	b.WriteString("]\nrules:\n")
	for i := range 300 {
		fmt.Fprintf(&b, "  - {name: r%d, enabled: false, description: d, severity: low, events: [open], match: {path: {exact: [\"@l\"]}, exe: {not_in: [\"@l\"]}}}\n", i)
	}
	_, err := Parse("budget.yaml", []byte(b.String()), nil)
	wantErr(t, err, `rule "r131"`, "the file's lists expand to more than 262144 items in all")

	// Many lists each repeating a long one.
	b.Reset()
	b.WriteString("lists:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  m%03d: [\"@big\"]\n", i)
	}
	_, err = Parse("lists.yaml", []byte(b.String()), map[string][]string{"big": make([]string, 4000)})
	wantErr(t, err, "lists.yaml: lists.m065: the file's lists expand to more than 262144 items in all")
}

func TestParseLimits(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	_, err := Parse("big.yaml", big, nil)
	wantErr(t, err, "big.yaml: 1048577 bytes; rule files have at most 1048576")

	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range MaxRules + 1 {
		fmt.Fprintf(&b, "  - {name: r%d, description: d, severity: low, events: [open]}\n", i)
	}
	_, err = Parse("many.yaml", []byte(b.String()), nil)
	wantErr(t, err, "many.yaml:66", `rule "r64"`, "more than 64 enabled rules: vigil evaluates at most 64 rules in the kernel")

	// Disabled rules do not count.
	b.WriteString("  - {name: off, description: d, severity: low, events: [open], enabled: false}\n")
	src := strings.Replace(b.String(), "{name: r0,", "{enabled: false, name: r0,", 1)
	if _, err := Parse("many.yaml", []byte(src), nil); err != nil {
		t.Errorf("64 enabled rules and 2 disabled: %v", err)
	}

	var many strings.Builder
	many.WriteString("rules:\n")
	for i := range maxFileRules + 1 {
		fmt.Fprintf(&many, "  - {name: r%d, description: d, severity: low, events: [open], enabled: false}\n", i)
	}
	_, err = Parse("huge.yaml", []byte(many.String()), nil)
	wantErr(t, err, "1025 rules; a file has at most 1024")
}

// TestParseAliasBomb: neither an exponential alias bomb nor a linear one
// (a megabyte of aliases to a long list) makes Parse allocate gigabytes.
func TestParseAliasBomb(t *testing.T) {
	exp := `
lists:
  a: &a ["x","x","x","x","x","x","x","x","x","x"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
`
	_, err := Parse("bomb.yaml", []byte(exp), nil)
	wantErr(t, err, "bomb.yaml", "aliases expand the document to more than")

	var b strings.Builder
	b.WriteString("x: &t [")
	for i := range 1000 {
		fmt.Fprintf(&b, "t%d,", i)
	}
	b.WriteString("]\nr: &r {name: r, description: d, severity: low, events: *t, tags: *t}\nrules: [")
	for b.Len() < MaxFileSize-10 {
		b.WriteString("*r,")
	}
	b.WriteString("]\n")
	_, err = Parse("linear.yaml", []byte(b.String()), nil)
	wantErr(t, err, "linear.yaml", "aliases expand the document to more than")

	_, err = Parse("cycle.yaml", []byte("lists: &a {x: [*a]}\n"), nil)
	if err == nil {
		t.Errorf("a self-referencing alias was accepted")
	}
}

func TestParseDefaultsAndLists(t *testing.T) {
	f, err := Parse("ok.yaml", []byte(`
lists:
  shells: [/bin/sh, "@more"]
  more: [/bin/bash, "@@literal"]
disable: [some-rule]
rules:
  - name: x
    description: d
    severity: low
    events: ["@kinds"]
    match:
      exe: {exact: ["@shells"], not_in: ["@known"]}
  - name: y
    description: d
    severity: info
    events: [exec, exec]
    enabled: false
    action: alert
`), map[string][]string{"known": {"/k"}, "kinds": {"exec"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Lists["shells"], ","); got != "/bin/sh,/bin/bash,@literal" {
		t.Errorf("shells = %s", got)
	}
	if _, ok := f.Lists["known"]; ok {
		t.Errorf("File.Lists holds a known list")
	}
	x, y := f.Rules[0], f.Rules[1]
	if got := strings.Join(x.Match.Exe.Exact, ","); got != "/bin/sh,/bin/bash,@literal" || x.Match.Exe.NotIn[0] != "/k" {
		t.Errorf("exe = %+v", x.Match.Exe)
	}
	if x.Action != "alert" || !x.Enabled || x.Source != "ok.yaml" || x.Line != 7 {
		t.Errorf("defaults: %+v", x)
	}
	if y.Enabled || len(y.Events) != 1 {
		t.Errorf("y = %+v", y)
	}
	if len(f.Disable) != 1 || f.Disable[0] != "some-rule" {
		t.Errorf("disable = %v", f.Disable)
	}
	// Compile validates again: a hand-edited rule is checked too.
	x.Events = append(x.Events, "fork")
	if _, err := Compile(f.Rules); err == nil || !strings.Contains(err.Error(), `ok.yaml:7: rule "x": events "fork"`) {
		t.Errorf("Compile: %v, want the fork error", err)
	}
	// An empty file is valid.
	if f, err := Parse("empty.yaml", nil, nil); err != nil || len(f.Rules) != 0 {
		t.Errorf("empty file: %v %v", f, err)
	}
}

func TestParseListDefinedTwice(t *testing.T) {
	_, err := Parse("two.yaml", []byte("lists:\n  shells: [/bin/sh]\n"), map[string][]string{"shells": {"/bin/sh"}})
	wantErr(t, err, "two.yaml: lists.shells: list defined twice")
	_, err = Parse("two.yaml", []byte("lists:\n  a: [x]\n  a: [y]\n"), nil)
	wantErr(t, err, "two.yaml", `mapping key "a" already defined`)
}

// TestParseCollectsErrors: one run reports every bad rule, not just the
// first.
func TestParseCollectsErrors(t *testing.T) {
	_, err := Parse("m.yaml", []byte(`
rules:
  - {name: a, description: d, severity: bad, events: [open]}
  - {name: b, description: d, severity: low, events: [nope]}
`), nil)
	wantErr(t, err, `m.yaml:3: rule "a": severity`, `m.yaml:4: rule "b": events "nope"`)
}

func TestParseTableLimitInOneFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n")
	for r := range 5 {
		fmt.Fprintf(&b, "  - name: r%d\n    description: d\n    severity: low\n    events: [open]\n    match:\n      path:\n        prefix:\n", r)
		for i := range 1000 {
			fmt.Fprintf(&b, "          - /r%d/%d\n", r, i)
		}
	}
	_, err := Parse("t.yaml", []byte(b.String()), nil)
	wantErr(t, err, `t.yaml:4030: rule "r4": the kernel's path table would have more than 4096 entries`)
}
