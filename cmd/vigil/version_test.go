package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// `vigil --version` and `vigil version` print the same line; `--json`
// prints the same facts as one object.
func TestVersion(t *testing.T) {
	out := func(args ...string) string {
		t.Helper()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout := os.Stdout
		os.Stdout = w
		err = run(context.Background(), args)
		os.Stdout = stdout
		w.Close()
		var b bytes.Buffer
		b.ReadFrom(r)
		if err != nil {
			t.Fatalf("vigil %v: %v", args, err)
		}
		return b.String()
	}
	flag, sub := out("--version"), out("version")
	if flag != sub || !strings.HasPrefix(flag, "vigil ") || !strings.HasSuffix(flag, ")\n") {
		t.Errorf("--version %q, version %q: want the same line", flag, sub)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out("version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v != currentVersion() || v.Version == "" || v.GoVersion == "" {
		t.Errorf("version --json: %+v, want %+v", v, currentVersion())
	}
}
