package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runRules runs `vigil rules ARGS...` and returns its stdout, stderr and
// error.
func runRules(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRulesCmd()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func writeRuleFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodRules = `
disable: [exec-from-temp-dir]
rules:
  - name: shell-in-container
    description: A shell in a container.
    severity: medium
    events: [exec]
    match: {exe: {exact: ["@shell_binaries"]}}
    condition: 'process.container_id != ""'
  - name: off
    description: d
    severity: info
    events: [open]
    enabled: false
`

func TestRulesValidate(t *testing.T) {
	good := writeRuleFile(t, "good.yaml", goodRules)
	out, errOut, err := runRules(t, "validate", good)
	if err != nil || out != good+": 2 rules OK\n" || errOut != "" {
		t.Fatalf("validate good: out %q err %q %v", out, errOut, err)
	}

	bad := writeRuleFile(t, "bad.yaml", `
rules:
  - name: x
    description: d
    severity: loud
    events: [exec]
    match: {path: {glob: ["**"]}}
`)
	out, errOut, err = runRules(t, "validate", good, bad)
	if ee, ok := err.(exitError); !ok || ee != 1 {
		t.Fatalf("validate bad: error %v, want exit status 1", err)
	}
	if out != good+": 2 rules OK\n" {
		t.Errorf("stdout %q", out)
	}
	for _, want := range []string{bad + `:3: rule "x": severity: "loud"`, bad + `:3: rule "x": match.path: path is not a field of exec events; use exe`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}

	// Each file is fine alone, not together: the same rule name twice.
	again := writeRuleFile(t, "again.yaml", strings.Replace(goodRules, "disable: [exec-from-temp-dir]\n", "", 1))
	_, errOut, err = runRules(t, "validate", good, again)
	if err == nil || !strings.Contains(errOut, `rule "shell-in-container": duplicate rule name`) {
		t.Errorf("validate together: %v, stderr %q", err, errOut)
	}

	_, errOut, err = runRules(t, "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing file: %v %q", err, errOut)
	}
	if _, _, err := runRules(t, "validate"); err == nil {
		t.Error("validate without files succeeded")
	}
}

func TestRulesList(t *testing.T) {
	good := writeRuleFile(t, "good.yaml", goodRules)
	out, _, err := runRules(t, "list", "--rules", good)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "SEVERITY") || !strings.HasSuffix(lines[0], "SOURCE") {
		t.Errorf("header %q", lines[0])
	}
	if !strings.Contains(out, "reverse-shell") || strings.Contains(out, "exec-from-temp-dir") || strings.Contains(out, "\noff ") {
		t.Errorf("table:\n%s", out)
	}
	last := strings.Fields(lines[len(lines)-1])
	if len(last) != 5 || last[0] != "shell-in-container" || last[1] != "medium" || last[2] != "alert" || last[3] != "exec" || last[4] != good+":4" {
		t.Errorf("last row %q", last)
	}

	out, _, err = runRules(t, "list", "--no-default-rules", "--rules", good, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rules []map[string]any
	if err := json.Unmarshal([]byte(out), &rules); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if len(rules) != 1 || rules[0]["name"] != "shell-in-container" || rules[0]["source"] != good {
		t.Errorf("rules %v", rules)
	}

	out, _, err = runRules(t, "list", "--no-default-rules", "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty list: %q %v", out, err)
	}
	if _, _, err := runRules(t, "list", "--rules", filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("list with a missing file succeeded")
	}
}
