package policy

import (
	"strings"
	"testing"
)

// TestBroadEnforcementIsRefused: a kill or deny rule that names no
// processes and no objects is refused with a message saying why, unless
// it sets allow_broad_enforcement; narrow rules, and broad alert rules,
// load.
func TestBroadEnforcementIsRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		events string
		action string
		match  string // the match: mapping, "" for none
		why    string // in the error; "" when the rule is narrow
	}{
		// Broad.
		{"kill every exec", "[exec]", "kill", `{exe: {prefix: [/]}}`, `exe prefix "/" matches every path`},
		{"kill every exec, no match", "[exec]", "kill", "", "no selector says which processes or objects"},
		{"kill every open", "[open]", "kill", "", "no selector says"},
		{"kill every open for write", "[open]", "kill", `{access: [write]}`, "no selector says"},
		{"kill every O_CREAT open", "[open]", "kill", `{flags: [O_CREAT]}`, "no selector says"},
		{"kill every open below /", "[open]", "kill", `{path: {prefix: [/etc/, /]}}`, `path prefix "/" matches every path`},
		{"kill all but /tmp", "[open]", "kill", `{path: {not_prefix: [/tmp/]}}`, "path has only negative patterns"},
		{"kill every name but one", "[unlink]", "kill", `{name: {not_in: [x]}}`, "name has only negative patterns"},
		{"kill any exe and parent", "[exec]", "kill", `{exe: {not_in: [/usr/bin/sh]}, parent_exe: {prefix: [/]}}`,
			`exe has only negative patterns, which match everything else; parent_exe prefix "/" matches every path`},
		{"kill every link target", "[symlink]", "kill", `{target: {prefix: [/]}}`, `target prefix "/"`},
		{"kill every ptrace attach", "[ptrace]", "kill", `{request: [ATTACH]}`, "no selector says"},
		{"kill every raw socket", "[socket]", "kill", `{family: [AF_PACKET]}`, "no selector says"},
		{"kill every setuid", "[setuid, setgid]", "kill", "", "the setuid and setgid events of every process"},
		{"deny every connect", "[connect]", "deny", "", "no selector says"},
		{"deny every IPv4", "[connect]", "deny", `{destination: {cidr: [0.0.0.0/0]}}`, "destination cidr covers every IPv4 address"},
		{"deny every IPv6", "[connect]", "deny", `{destination: {cidr: ["::/0"]}}`, "every IPv6 address"},
		{"deny IPv4 in halves", "[connect]", "deny", `{destination: {cidr: [128.0.0.0/1, 10.0.0.0/8, 0.0.0.0/1]}}`, "every IPv4 address"},
		{"deny IPv4 and a host", "[connect]", "deny", `{destination: {cidr: [0.0.0.0/0, "::1"]}}`, "every IPv4 address"},
		{"deny all but loopback", "[connect]", "deny", `{destination: {not_cidr: [127.0.0.0/8]}}`, "destination has no cidr or ports"},
		{"deny all but a port", "[connect]", "deny", `{destination: {not_ports: ["53"]}}`, "destination has no cidr or ports"},
		{"kill every connect", "[connect]", "kill", `{destination: {cidr: [0.0.0.0/0, "::/0"]}}`, "every IPv4 address"},

		// Narrow.
		{"exe prefix", "[exec]", "kill", `{exe: {prefix: [/tmp/]}}`, ""},
		{"exe exact", "[exec]", "kill", `{exe: {exact: [/usr/bin/nc]}}`, ""},
		{"parent exe", "[exec]", "kill", `{parent_exe: {exact: [/usr/sbin/nginx]}}`, ""},
		{"exe root exact", "[exec]", "kill", `{exe: {exact: [/]}}`, ""},
		{"exe narrows a broad path", "[open]", "kill", `{exe: {exact: [/usr/bin/cat]}, path: {prefix: [/]}}`, ""},
		{"path prefix", "[open]", "kill", `{path: {prefix: [/etc/], not_prefix: [/etc/ld.so.cache]}, access: [write]}`, ""},
		{"name", "[open, unlink]", "kill", `{name: {exact: [shadow]}}`, ""},
		{"target", "[symlink]", "kill", `{target: {exact: [/etc/shadow]}}`, ""},
		{"shell dup", "[dup]", "kill", `{exe: {exact: [/usr/bin/bash, /usr/bin/dash]}}`, ""},
		{"ptrace by a shell", "[ptrace]", "kill", `{exe: {prefix: [/tmp/]}, request: [ATTACH]}`, ""},
		{"deny a port", "[connect]", "deny", `{destination: {ports: ["4444"]}}`, ""},
		{"deny a port anywhere", "[connect]", "deny", `{destination: {cidr: [0.0.0.0/0], ports: ["4444"]}}`, ""},
		{"deny a network", "[connect]", "deny", `{destination: {cidr: [169.254.169.254, 10.0.0.0/8, "fd00::/8"]}}`, ""},
		{"deny half of IPv4", "[connect]", "deny", `{destination: {cidr: [0.0.0.0/1]}}`, ""},
		{"deny IPv4 with a gap", "[connect]", "deny", `{destination: {cidr: [0.0.0.0/2, 128.0.0.0/1]}}`, ""},
		{"deny for one program", "[connect]", "deny", `{exe: {exact: [/usr/bin/curl]}}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rule := "rules:\n  - name: r\n    description: d\n    severity: high\n    events: " + c.events + "\n    action: " + c.action + "\n"
			if c.match != "" {
				rule += "    match: " + c.match + "\n"
			}
			_, err := Parse("rules.yaml", []byte(rule), nil)
			if c.why == "" {
				if err != nil {
					t.Fatalf("a narrow rule is refused: %v", err)
				}
				return
			}
			wantErr(t, err, `rules.yaml:2: rule "r": action: `+c.action+" is too broad: it would act on the", c.why, "allow_broad_enforcement: true")
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("%d errors, want 1: %v", n, err)
			}
			// Forced, it loads and compiles.
			compileYAML(t, rule+"    allow_broad_enforcement: true\n")
			// As an alert rule it always did.
			compileYAML(t, strings.Replace(rule, "action: "+c.action, "action: alert", 1))
		})
	}
}

// TestBroadEnforcementKeyIsInTheRule: the key is kept on the rule (and in
// `vigil rules list --json`), and is refused outside a rule.
func TestBroadEnforcementKeyIsInTheRule(t *testing.T) {
	f, err := Parse("rules.yaml", []byte(`rules:
  - {name: r, description: d, severity: high, events: [exec], action: kill, allow_broad_enforcement: true}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Rules[0].AllowBroadEnforcement {
		t.Errorf("AllowBroadEnforcement not kept")
	}
	_, err = Parse("rules.yaml", []byte("allow_broad_enforcement: true\n"), nil)
	wantErr(t, err, "field allow_broad_enforcement not found")
}
