// Package bpftest holds what kernel tests share: the root/BPF requirement
// that CI turns from a skip into a failure, and the check that nothing a
// test loaded stays in the kernel.
package bpftest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// RequireEnv is the environment variable that makes kernel tests mandatory.
const RequireEnv = "VIGIL_REQUIRE_BPF"

// Require skips t unless it can load BPF programs (root). With
// VIGIL_REQUIRE_BPF=1, as CI sets it, a missing capability fails the test
// instead: kernel tests must never skip silently in CI.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("kernel test needs root, and %s=1 forbids skipping", RequireEnv)
	}
	t.Skip("kernel test needs root (set " + RequireEnv + "=1 to make this a failure)")
}

// SkipOrFail skips with reason, or fails when VIGIL_REQUIRE_BPF=1.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s, and %s=1 forbids skipping", reason, RequireEnv)
	}
	t.Skip(reason)
}

// LeakCheck asserts, when the test ends, that the test process holds no BPF
// file descriptors and that every BPF program, map and link it recorded
// while running is gone from the kernel.
type LeakCheck struct {
	t     testing.TB
	progs []ebpf.ProgramID
	maps  map[ebpf.MapID]string // name, read while the test holds it
	links []link.ID
}

// NewLeakCheck registers the check; call it before loading anything so
// that its cleanup runs after every other cleanup of the test.
func NewLeakCheck(t testing.TB) *LeakCheck {
	lc := &LeakCheck{t: t, maps: map[ebpf.MapID]string{}}
	t.Cleanup(lc.verify)
	return lc
}

// Record notes the IDs of every BPF object the process has open right now.
// Call it once everything is loaded and attached.
func (lc *LeakCheck) Record() {
	lc.t.Helper()
	objs, err := openBPFObjects()
	if err != nil {
		lc.t.Fatalf("list BPF objects: %v", err)
	}
	for _, o := range objs {
		switch o.kind {
		case "bpf-prog":
			lc.progs = append(lc.progs, ebpf.ProgramID(o.id))
		case "bpf-map":
			id := ebpf.MapID(o.id)
			lc.maps[id] = ""
			if m, err := ebpf.NewMapFromID(id); err == nil {
				if info, err := m.Info(); err == nil {
					lc.maps[id] = info.Name
				}
				m.Close()
			}
		case "bpf-link":
			lc.links = append(lc.links, link.ID(o.id))
		}
	}
	if len(lc.progs) == 0 {
		lc.t.Fatalf("LeakCheck.Record: no BPF program is open; nothing to check")
	}
}

func (lc *LeakCheck) verify() {
	t := lc.t
	t.Helper()
	objs, err := openBPFObjects()
	if err != nil {
		t.Errorf("list BPF objects: %v", err)
		return
	}
	for _, o := range objs {
		t.Errorf("BPF object still open after the test: %s id %d (fd %d)", o.kind, o.id, o.fd)
	}
	// The kernel frees objects after an RCU grace period; give it a moment.
	deadline := time.Now().Add(3 * time.Second)
	for {
		remaining := lc.remaining()
		if len(remaining) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, r := range remaining {
				t.Errorf("still in the kernel after the test: %s", r)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (lc *LeakCheck) remaining() []string {
	var out []string
	for _, id := range lc.progs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			out = append(out, fmt.Sprintf("program %d", id))
		}
	}
	// Maps are looked for by walking the IDs, never by opening them: a
	// program array reopened by ID while the kernel is still clearing it
	// (after its last descriptor closed) is cleared twice, and the kernel
	// (6.18) then keeps one reference forever. The check would create the
	// leak it looks for.
	live := map[ebpf.MapID]bool{}
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if err != nil {
			break
		}
		live[next] = true
		id = next
	}
	for id, name := range lc.maps {
		if live[id] {
			out = append(out, fmt.Sprintf("map %d %q", id, name))
		}
	}
	for _, id := range lc.links {
		if l, err := link.NewFromID(id); err == nil {
			l.Close()
			out = append(out, fmt.Sprintf("link %d", id))
		}
	}
	return out
}

type bpfObject struct {
	kind string // bpf-prog, bpf-map, bpf-link
	fd   int
	id   uint32
}

// openBPFObjects lists the BPF objects this process holds file descriptors
// for, from /proc/self/fd and fdinfo.
func openBPFObjects() ([]bpfObject, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	var objs []bpfObject
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		kind, ok := strings.CutPrefix(target, "anon_inode:")
		if !ok || !strings.HasPrefix(kind, "bpf-") {
			continue
		}
		fd, _ := strconv.Atoi(e.Name())
		o := bpfObject{kind: kind, fd: fd}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		key := map[string]string{"bpf-prog": "prog_id:", "bpf-map": "map_id:", "bpf-link": "link_id:"}[kind]
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, key); ok {
				n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
				o.id = uint32(n)
			}
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// Raw returns the bytes of a record as the kernel writes it: the C struct,
// given as its bpf2go-generated Go type, followed by its variable-length
// data. Decoder tests build their input with it, so that they never hold
// offsets of their own.
func Raw[T any](rec *T, data ...string) []byte {
	b := slices.Clone(unsafe.Slice((*byte)(unsafe.Pointer(rec)), unsafe.Sizeof(*rec)))
	for _, d := range data {
		b = append(b, d...)
	}
	return b
}
