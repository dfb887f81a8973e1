package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"

	"github.com/vigil-dev/vigil/internal/event"
)

// condProgram compiles one exec rule with a condition.
func condProgram(t *testing.T, cond string, kinds ...string) *Program {
	t.Helper()
	if len(kinds) == 0 {
		kinds = []string{"exec"}
	}
	return compileYAML(t, fmt.Sprintf(`
lists:
  shells: [/bin/sh, /usr/bin/bash]
rules:
  - name: c
    description: d
    severity: low
    events: [%s]
    condition: %q
`, strings.Join(kinds, ", "), cond))
}

func TestConditionIssueExample(t *testing.T) {
	// The example of the rule-file documentation: a read of a sensitive
	// file is fine below sshd, suspicious otherwise.
	p := condProgram(t, `!process.ancestors.exists(a, a.comm == "sshd")`, "open")
	bash := proc("/usr/bin/bash")
	viaSSH := fileEv(event.KindOpen, bash, event.File{Path: "/etc/shadow"}, parent("/usr/bin/bash"), ancestors("/usr/sbin/sshd", "/usr/lib/systemd/systemd"))
	viaCron := fileEv(event.KindOpen, bash, event.File{Path: "/etc/shadow"}, parent("/usr/bin/bash"), ancestors("/usr/sbin/cron"))
	if got := p.Evaluate(viaSSH, 1); len(got) != 0 {
		t.Errorf("below sshd: matched %v", got)
	}
	if got := p.Evaluate(viaCron, 1); len(got) != 1 {
		t.Errorf("below cron: no match")
	}
	if got := p.MatchEvent(viaCron); got != 1 {
		t.Errorf("MatchEvent below cron = %b", got)
	}
	if p.ConditionErrors() != 0 {
		t.Errorf("%d condition errors", p.ConditionErrors())
	}
}

func TestConditions(t *testing.T) {
	mode := uint32(0o4755)
	uid := int64(0)
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	exec := execEv(event.Process{PID: 7, PPID: 2, UID: 1000, Exe: "/usr/bin/bash", Comm: "bash", Args: []string{"bash", "-c", "id"}},
		parent("/usr/sbin/nginx", "nginx: worker"), ancestors("/usr/lib/systemd/systemd"))
	exec.Time = now
	chmod := fileEv(event.KindChmod, proc("/usr/bin/chmod"), event.File{Path: "/tmp/x", Mode: &mode})
	chown := fileEv(event.KindChown, proc("/usr/bin/chown"), event.File{Path: "/tmp/x", UID: &uid})
	conn := netEv(event.KindConnect, proc("/usr/bin/curl"), event.Net{Family: "AF_INET", Peer: &event.Endpoint{Addr: "10.0.0.1", Port: 443}})
	sock := netEv(event.KindSocket, proc("/usr/bin/curl"), event.Net{Family: "AF_INET", Type: "SOCK_STREAM"})
	for _, c := range []struct {
		cond  string
		kinds []string
		ev    *event.Event
		want  bool
		errs  uint64 // condition errors counted
	}{
		{`process.uid == 1000 && process.ppid == 2 && process.pid < 10`, nil, exec, true, 0},
		{`process.uid == 0`, nil, exec, false, 0},
		{`kind == "exec" && filename == "/usr/bin/bash"`, nil, exec, true, 0},
		{`process.args[2] == "id" && process.args.size() == 3`, nil, exec, true, 0},
		{`ancestors[0].exe == "/usr/sbin/nginx" && ancestors[0].args[0].startsWith("nginx")`, nil, exec, true, 0},
		{`process.ancestors == ancestors`, nil, exec, true, 0},
		{`process.exe in @shells`, nil, exec, true, 0},
		{`!(process.exe in @shells)`, nil, exec, false, 0},
		{`time.getFullYear() == 2025 && time > timestamp("2025-01-01T00:00:00Z")`, nil, exec, true, 0},
		{`process.container_id == "" && process.cwd == ""`, nil, exec, true, 0}, // omitted in JSON, "" here
		{`"@shells" != "" && '@x' == "@x"`, nil, exec, true, 0},                 // no expansion in strings
		{`process.comm.upperAscii() == "BASH"`, nil, exec, true, 0},             // strings extension
		{`path == null && new_path == null`, nil, exec, true, 0},                // fields of other kinds
		{`mode == 2541 && path.endsWith("/x")`, []string{"chmod"}, chmod, true, 0},
		{`uid == 0 && gid == null`, []string{"chown"}, chown, true, 0},
		{`peer.addr == "10.0.0.1" && peer.port == 443 && local == null`, []string{"connect"}, conn, true, 0},
		{`type == "SOCK_STREAM" && family == "AF_INET"`, []string{"socket"}, sock, true, 0},
		// Run-time errors are no match, and counted.
		{`path.startsWith("/")`, nil, exec, false, 1},
		{`ancestors[5].exe == ""`, nil, exec, false, 1},
		{`process.args.map(a, process.args.map(b, process.args.map(c, process.args.map(d, [a, b, c, d])))).size() > 0
			&& [1,2,3,4,5,6,7,8,9,10].all(i, [1,2,3,4,5,6,7,8,9,10].all(j, [1,2,3,4,5,6,7,8,9,10].all(k, [1,2,3,4,5,6,7,8,9,10].all(l, [1,2,3,4,5,6,7,8,9,10].all(m, true)))))`, nil, exec, false, 1}, // over the cost limit
	} {
		t.Run(c.cond, func(t *testing.T) {
			p := condProgram(t, c.cond, c.kinds...)
			got := len(p.Evaluate(c.ev, 1)) == 1
			if got != c.want {
				t.Errorf("matched %v, want %v", got, c.want)
			}
			if p.ConditionErrors() != c.errs {
				t.Errorf("%d condition errors, want %d", p.ConditionErrors(), c.errs)
			}
		})
	}
}

func TestExpandConditionLists(t *testing.T) {
	lists := map[string][]string{"a": {"x", `q"uote`}, "b": {}}
	for _, c := range []struct{ in, want string }{
		{`p in @a`, `p in ["x", "q\"uote"]`},
		{`p in @b || "@a" == '@a'`, `p in [] || "@a" == '@a'`},
		{`r"@a\" + @a"`, `r"@a\" + ["x", "q\"uote"]"`}, // a raw string ends at its quote
		{`"""@a "" @a""" + @b`, `"""@a "" @a""" + []`},
		{"// @a\n@b", "// @a\n[]"},
		{`"\"@a"`, `"\"@a"`},
	} {
		got, err := expandConditionLists(c.in, lists)
		if err != nil || got != c.want {
			t.Errorf("expand(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := expandConditionLists(`x in @`, lists); err == nil {
		t.Error("bare @ accepted")
	}
}

// TestActivationMatchesJSON: for an event of every kind, every top-level
// field of its JSON is a variable whose value is the JSON value (modulo
// types: numbers, and time as a timestamp), so that conditions see exactly
// the documented event.
func TestActivationMatchesJSON(t *testing.T) {
	vars := map[string]bool{}
	sch := newSchema()
	for _, v := range sch.vars {
		vars[v] = true
	}
	m, u, i := uint32(0o644), int64(0), int64(1)
	ep := &event.Endpoint{Addr: "::1", Port: 80}
	base := execEv(proc("/usr/bin/x", "x", "-y"), parent("/usr/bin/p"))
	base.Time = time.Unix(1700000000, 5).UTC()
	base.Process.Cwd, base.Process.ContainerID = "/w", "abc"
	for _, ev := range []*event.Event{
		base,
		{Kind: event.KindExit, Exit: &event.Exit{ExitCode: 1, Signal: 9, CoreDumped: true, DurationNs: 5}},
		{Kind: event.KindFork, Fork: &event.Fork{ChildPID: 9}},
		{Kind: event.KindHTTP, HTTP: &event.HTTP{Side: "server", Method: "GET", Path: "/", Status: 200, Host: "h", TraceID: "t", SpanID: "s", ParentSpanID: "p", Local: *ep, Peer: *ep}},
		{Kind: event.KindChmod, File: &event.File{Path: "/p", PathTruncated: true, NewPath: "/n", Target: "/t", Flags: []string{"O_TRUNC"}, Access: "write", Created: true, Mode: &m, UID: &u, GID: &i, Dir: true, Source: "s", FSType: "ext4", Result: u}},
		{Kind: event.KindConnect, Net: &event.Net{Family: "AF_INET6", Type: "SOCK_STREAM", Protocol: 6, Local: ep, Peer: ep, FD: 3, NewFD: &i, Result: i}},
		{Kind: event.KindPtrace, Priv: &event.Priv{Syscall: "ptrace", IDs: []int64{0, -1}, Effective: []string{"CAP_X"}, Permitted: []string{}, Inheritable: []string{"a"}, Request: "PTRACE_ATTACH", TargetPID: 3, Name: "n", Path: "/p", Cmd: "c", Flags: []string{"f"}, Result: i}},
		{Kind: event.KindAlert, Alert: &event.Alert{Rule: "r", Severity: "low", Action: "alert", Tags: []string{"t"}, Description: "d", Event: base}},
	} {
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		act := &activation{ev: ev, s: sch}
		for k, want := range obj {
			if !vars[k] {
				t.Errorf("%s: JSON field %q is not a CEL variable", ev.Kind, k)
				continue
			}
			got, ok := act.ResolveName(k)
			if !ok {
				t.Errorf("%s: %q does not resolve", ev.Kind, k)
				continue
			}
			if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
				t.Errorf("%s.%s = %#v, JSON %#v", ev.Kind, k, g, w)
			}
		}
	}
}

// normalize maps activation values and decoded JSON to comparable forms:
// numbers as float64, timestamps as RFC 3339 strings, maps without the
// null, empty or zero entries JSON omits, and a process without the
// ancestors the activation adds to it.
func normalize(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case types.Null:
		return nil
	case []string:
		out := make([]any, len(x))
		for i := range x {
			out[i] = x[i]
		}
		return normalize(out)
	case []int64:
		out := make([]any, len(x))
		for i := range x {
			out[i] = x[i]
		}
		return normalize(out)
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalize(x[i])
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			n := normalize(e)
			if n == nil || n == "" || n == false || n == float64(0) && k != "pid" && k != "exit_code" && k != "status" && k != "result" && k != "fd" && k != "port" && k != "uid" && k != "gid" && k != "ppid" && k != "tid" && k != "cgroup_id" {
				continue
			}
			if _, isProcess := x["cgroup_id"]; isProcess && k == "ancestors" {
				continue
			}
			out[k] = n
		}
		return out
	}
	return v
}

// A condition's run-time errors are counted for its rule, and the first
// of them is handed on once, so that it can be said.
func TestConditionErrorsByRule(t *testing.T) {
	p := condProgram(t, `ancestors[5].exe == ""`)
	var said []string
	p.OnConditionError = func(rule string, err error) { said = append(said, rule+": "+err.Error()) }
	ev := execEv(event.Process{PID: 7, Exe: "/usr/bin/bash", Args: []string{"bash"}})
	for range 3 {
		if len(p.Evaluate(ev, 1)) != 0 {
			t.Fatal("a failing condition matched")
		}
	}
	if n := p.RuleConditionErrors(0); n != 3 || p.ConditionErrors() != 3 {
		t.Errorf("errors: rule %d, all %d; want 3", n, p.ConditionErrors())
	}
	if len(said) != 1 || !strings.HasPrefix(said[0], "c: ") {
		t.Errorf("said %q, want the first error of rule c once", said)
	}
}
