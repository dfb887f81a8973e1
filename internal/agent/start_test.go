package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/agent"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/policy"
)

// openBPFObjects counts the BPF programs, maps and links this process
// holds descriptors for.
func openBPFObjects(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if dst, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(dst, "anon_inode:bpf-") {
			n++
		}
	}
	return n
}

// NewContext whose context ends while the sensors load (the built-in
// rules' security sensors take the verifier seconds) returns at once, and
// what the start loaded leaves the kernel soon after: the sensor the
// verifier was busy with when its load returns.
func TestNewContextGivesUpWhenItsContextEnds(t *testing.T) {
	bpftest.Require(t)
	leaks := bpftest.NewLeakCheck(t) // its check runs last
	rules, err := policy.Load(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := policy.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	const after = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(after, cancel)
	start := time.Now()
	a, err := agent.NewContext(ctx, agent.Options{ExcludeSelf: true, Security: &agent.SecurityOptions{Program: prog}})
	took := time.Since(start)
	if err == nil {
		a.Close()
		t.Logf("the start took %v, less than %v: nothing to give up", took, after)
		return
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("NewContext: %v, want context.Canceled", err)
	}
	if took > after+200*time.Millisecond {
		t.Errorf("NewContext returned %v after its context ended, want at once", took-after)
	}
	if openBPFObjects(t) > 0 {
		leaks.Record() // what the abandoned start holds: all of it must go
	}
	deadline := time.Now().Add(20 * time.Second)
	for openBPFObjects(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned start still holds %d BPF objects after 20 s", openBPFObjects(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("NewContext returned %v after its context ended; the abandoned start released everything %v after it began", (took - after).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
