package bpfrt

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

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
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // ctx, for the tail call
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.JNE.Imm(asm.R0, int32(os.Getpid()), "next"),
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
	sys, err := NewSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
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
	sys, err := NewSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
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
	sys, err := NewSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
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
