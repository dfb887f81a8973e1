package bpfrt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

// newSyscalls loads a dispatcher that the test's cleanup closes (before
// a leak check registered earlier runs).
func newSyscalls(t *testing.T) *Syscalls {
	t.Helper()
	sys, err := NewSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	return sys
}

// counter is an array of two uint64 counters: [0] observe, [1] secure.
func counter(t *testing.T) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// stageProgram counts the calls of this test process in slot of counts,
// then, when next is set, tail-calls next[nr] as an observe program does.
func stageProgram(t *testing.T, counts *ebpf.Map, slot int32, next *ebpf.Map, nr uint32) *ebpf.Program {
	t.Helper()
	return stageProgramFor(t, os.Getpid(), counts, slot, next, nr)
}

// stageProgramFor is stageProgram counting the calls of process pid.
func stageProgramFor(t *testing.T, pid int, counts *ebpf.Map, slot int32, next *ebpf.Map, nr uint32) *ebpf.Program {
	t.Helper()
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // ctx, for the tail call
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.JNE.Imm(asm.R0, int32(pid), "next"),
		asm.StoreImm(asm.RFP, -4, int64(slot), asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, counts.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "next"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("next"),
	}
	if next != nil {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, next.FD()),
			asm.Mov.Imm(asm.R3, int32(nr)),
			asm.FnTailCall.Call(),
		)
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return())
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatalf("load stage program: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func read(t *testing.T, m *ebpf.Map, k uint32) uint64 {
	t.Helper()
	var v uint64
	if err := m.Lookup(k, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// listens makes n listen(2) calls that fail at once (EBADF).
func listens(n int) {
	for range n {
		unix.Listen(-1, 0)
	}
}

func TestSyscallsDispatchBothStages(t *testing.T) {
	bpftest.Require(t)
	leaks := bpftest.NewLeakCheck(t)
	sys := newSyscalls(t)
	counts := counter(t)
	nr := uint32(unix.SYS_LISTEN)
	secure := stageProgram(t, counts, 1, nil, 0)
	observe := stageProgram(t, counts, 0, sys.Maps()[StageSecure.String()], nr)

	// Secure alone: reached from the dispatcher's second tail call.
	hs, err := sys.Set(StageSecure, "listen", secure)
	if err != nil {
		t.Fatal(err)
	}
	leaks.Record()
	listens(5)
	if o, s := read(t, counts, 0), read(t, counts, 1); o != 0 || s != 5 {
		t.Fatalf("secure stage only: observe %d, secure %d calls; want 0 and 5", o, s)
	}
	// Both: the observe program runs, then chains into the secure one.
	ho, err := sys.Set(StageObserve, "listen", observe)
	if err != nil {
		t.Fatal(err)
	}
	listens(7)
	if o, s := read(t, counts, 0), read(t, counts, 1); o != 7 || s != 12 {
		t.Fatalf("both stages: observe %d, secure %d calls; want 7 and 12", o, s)
	}
	// Observe alone.
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}
	listens(3)
	if o, s := read(t, counts, 0), read(t, counts, 1); o != 10 || s != 12 {
		t.Fatalf("observe stage only: observe %d, secure %d calls; want 10 and 12", o, s)
	}
	if sys.link == nil {
		t.Fatal("dispatcher detached while a slot is still set")
	}
	if err := ho.Close(); err != nil {
		t.Fatal(err)
	}
	if sys.link != nil {
		t.Fatal("dispatcher still attached with every slot empty")
	}
	listens(4)
	if o, s := read(t, counts, 0), read(t, counts, 1); o != 10 || s != 12 {
		t.Fatalf("nothing set: observe %d, secure %d calls; want 10 and 12 still", o, s)
	}
	if err := ho.Close(); err != nil {
		t.Fatalf("second close of a hook: %v", err)
	}
}

func TestSyscallsRefusesBadSlots(t *testing.T) {
	bpftest.Require(t)
	bpftest.NewLeakCheck(t)
	sys := newSyscalls(t)
	p := stageProgram(t, counter(t), 1, nil, 0)
	if _, err := sys.Set(StageSecure, "no_such_call", p); !errors.Is(err, ErrNoSyscall) {
		t.Fatalf("unknown syscall: %v, want ErrNoSyscall", err)
	}
	if _, err := sys.Set(Stage(7), "listen", p); err == nil {
		t.Fatal("unknown stage accepted")
	}
	if _, err := sys.Set(StageSecure, "listen", p); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Set(StageSecure, "listen", p); err == nil {
		t.Fatal("a second program for a taken slot was accepted")
	}
	// Close releases what is still set, and refuses more.
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Set(StageObserve, "listen", p); err == nil {
		t.Fatal("Set after Close accepted")
	}
}

// An optional hook for a syscall the architecture lacks is skipped, a
// required one fails the attach.
func TestAttachOptionalSyscall(t *testing.T) {
	bpftest.Require(t)
	bpftest.NewLeakCheck(t)
	sys := newSyscalls(t)
	coll := &ebpf.Collection{Programs: map[string]*ebpf.Program{"p": stageProgram(t, counter(t), 1, nil, 0)}}
	links, err := Attach(coll, []Hook{
		{Program: "p", Kind: SyscallExit, Name: "listen", Stage: StageSecure},
		{Program: "p", Kind: SyscallExit, Name: "no_such_call", Stage: StageSecure, Optional: true},
	}, sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(links.Skipped) != 1 || links.Skipped[0].Name != "no_such_call" {
		t.Fatalf("skipped %v, want the optional unknown syscall", links.Skipped)
	}
	if err := links.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Attach(coll, []Hook{{Program: "p", Kind: SyscallExit, Name: "no_such_call", Stage: StageSecure}}, sys); err == nil {
		t.Fatal("a required hook on an unknown syscall attached")
	}
	if sys.link != nil {
		t.Fatal("dispatcher attached after the failed attach")
	}
}

// CheckSyscalls names the required syscalls the architecture lacks, and
// only those.
func TestCheckSyscalls(t *testing.T) {
	table := []Hook{
		{Program: "exit_listen", Kind: SyscallExit, Name: "listen"},
		{Program: "exit_no_such_call", Kind: SyscallExit, Name: "no_such_call", Optional: true},
		{Program: "exit_nor_this", Kind: SyscallExit, Name: "nor_this"},
		{Program: "exit_nor_that", Kind: SyscallExit, Name: "nor_that"},
		{Program: "p", Kind: RawTracepoint, Name: "sched_process_exec"},
	}
	err := CheckSyscalls(table)
	if !errors.Is(err, ErrNoSyscall) || !strings.Contains(err.Error(), "nor_this, nor_that") || strings.Contains(err.Error(), "no_such_call") {
		t.Fatalf("CheckSyscalls: %v, want ErrNoSyscall naming nor_this and nor_that only", err)
	}
	if err := CheckSyscalls(table[:2]); err != nil {
		t.Fatalf("CheckSyscalls of an existing and an optional missing syscall: %v", err)
	}
}

// A 32-bit syscall (int $0x80, which enters the kernel's compat path even
// from a 64-bit process) runs no stage program and is counted.
func TestSyscallsCountCompatExits(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		// arm64's compat syscalls come from AArch32 tasks only, which need
		// a 32-bit toolchain and a CPU that runs AArch32 at EL0.
		t.Skipf("the 32-bit syscalls are made with int $0x80, an x86 instruction; this is %s", runtime.GOARCH)
	}
	bpftest.Require(t)
	bpftest.NewLeakCheck(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		bpftest.SkipOrFail(t, "gcc is needed to build a program making 32-bit syscalls")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "int80.c")
	// eax 20 is getpid in the i386 table (getppid's 64-bit number, 110,
	// is ia32 iopl): a harmless call either way.
	if err := os.WriteFile(src, []byte(`#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int n = atoi(argv[1]);
	char go;

	if (read(0, &go, 1) != 1) /* until the test is ready */
		return 2;
	for (int i = 0; i < n; i++) {
		int ret;
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory");
	}
	return 0;
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "int80")
	if out, err := exec.Command(gcc, "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v: %s", err, out)
	}
	sys := newSyscalls(t)
	cmd := exec.Command(bin, "100")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A secure program for the child's calls on the 64-bit slot that the
	// i386 number 20 would select (x86_64's 20 is writev): it must not run.
	counts := counter(t)
	h, err := sys.Set(StageSecure, "writev", stageProgramFor(t, cmd.Process.Pid, counts, 1, nil, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	before, err := sys.CompatExits()
	if err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte{1})
	if err := cmd.Wait(); err != nil {
		if strings.Contains(err.Error(), "signal") {
			t.Skipf("this kernel runs no 32-bit syscalls (no IA32 emulation): %v", err)
		}
		t.Fatalf("int80: %v", err)
	}
	after, err := sys.CompatExits()
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 100 {
		t.Errorf("compat exits counted %d, want at least the 100 calls made", after-before)
	}
	if n := read(t, counts, 1); n != 0 {
		t.Errorf("the writev program ran %d times for 32-bit getpid calls", n)
	}
}
