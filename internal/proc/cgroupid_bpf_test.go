package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

// TestCgroupIDIsInode checks the assumption Snapshot and the table rest on:
// the id bpf_get_current_cgroup_id() returns is the inode number of the
// cgroup's directory in the cgroup2 mount. It moves the test process into a
// new cgroup, runs a program that records the helper's result through
// BPF_PROG_TEST_RUN (which runs in the caller's task), and moves it back.
func TestCgroupIDIsInode(t *testing.T) {
	bpftest.Require(t)
	root := cgroup2Mount(t)

	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		bpftest.SkipOrFail(t, fmt.Sprintf("cannot create a BPF map: %v", err))
	}
	defer m.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.RawTracepoint,
		License: "GPL",
		Instructions: asm.Instructions{
			// value = bpf_get_current_cgroup_id(); map[0] = value
			asm.FnGetCurrentCgroupId.Call(),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
			asm.StoreImm(asm.RFP, -12, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -12),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 0),
			asm.FnMapUpdateElem.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		bpftest.SkipOrFail(t, fmt.Sprintf("cannot load a raw tracepoint program: %v", err))
	}
	defer prog.Close()

	self := parseCgroup(mustRead(t, "/proc/self/cgroup"))
	orig, err := cgroupInode(root, self.path)
	if err != nil {
		bpftest.SkipOrFail(t, fmt.Sprintf("test process is not below %s: %v", root, err))
	}
	dir := filepath.Join(root, fmt.Sprintf("vigil-cgroupid-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		bpftest.SkipOrFail(t, fmt.Sprintf("cannot create a cgroup: %v", err))
	}
	t.Cleanup(func() { removeCgroup(t, dir) })

	currentID := func() uint64 {
		t.Helper()
		if _, err := prog.Run(&ebpf.RunOptions{Context: make([]byte, 8)}); err != nil {
			t.Fatalf("run program: %v", err)
		}
		var id uint64
		if err := m.Lookup(uint32(0), &id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	moveSelf := func(cgroup string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			t.Fatalf("move test process to %s: %v", cgroup, err)
		}
	}

	if got := currentID(); got != orig {
		t.Errorf("in %s: bpf cgroup id %d, inode %d", self.path, got, orig)
	}
	moveSelf(dir)
	t.Cleanup(func() { moveSelf(filepath.Join(root, self.path)) })
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := currentID(); got != st.Ino {
		t.Errorf("in %s: bpf cgroup id %d, inode %d", dir, got, st.Ino)
	}
}

func TestCgroupPathByID(t *testing.T) {
	bpftest.Require(t)
	root := cgroup2Mount(t)
	dir := filepath.Join(root, fmt.Sprintf("vigil-test-byid-%d", os.Getpid()), "inner")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir); os.Remove(filepath.Dir(dir)) })
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := CgroupPathByID(root, fi.Sys().(*syscall.Stat_t).Ino)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(dir, filepath.Clean(root)); got != want {
		t.Errorf("path of cgroup id: want %q, got %q", want, got)
	}
	if p, err := CgroupPathByID(root, 1); err != nil || p != "/" {
		t.Errorf("root cgroup (id 1): %q, %v", p, err)
	}
	if _, err := CgroupPathByID(root, 1<<62); err == nil {
		t.Error("a nonexistent cgroup id resolved")
	}
}
