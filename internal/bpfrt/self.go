package bpfrt

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// initPIDNamespaceInode is the inode of the initial pid namespace
// (PROC_PID_INIT_INO in the kernel's proc_ns.h), the same on every kernel.
const initPIDNamespaceInode = 0xEFFFFFFC

// SelfTGID is the calling process's thread-group id as the kernel's
// programs see it: bpf_get_current_pid_tgid() >> 32, its pid in the
// initial pid namespace. In a container (a pid namespace of its own),
// os.Getpid() is another number, the pid of some other process of the
// node: the self filter and the enforcement guard (filter_tgid and
// self_tgid, bpf/lib/vigil.h) must not be given that.
//
// The kernel says: a raw tracepoint program that returns that value, run
// once with BPF_PROG_TEST_RUN, which runs it in the calling thread (no
// BPF_F_TEST_RUN_ON_CPU), so "current" is this process. No /proc is
// asked: a container's /proc is its own namespace's. Where the test run
// fails and this process is in the initial pid namespace, os.Getpid() is
// the same number and is used; elsewhere the error is returned, since
// any guess could name another process.
//
// It loads and unloads a program of two instructions, so callers compute
// it once (the agent does, and hands it to every sensor).
func SelfTGID() (uint32, error) {
	tgid, err := selfTGIDFromKernel()
	if err == nil {
		return tgid, nil
	}
	var st unix.Stat_t
	if serr := unix.Stat("/proc/self/ns/pid", &st); serr == nil && st.Ino == initPIDNamespaceInode {
		return uint32(os.Getpid()), nil
	}
	return 0, fmt.Errorf("find this process's pid in the initial pid namespace: %w", err)
}

func selfTGIDFromKernel() (uint32, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "vigil_self_tgid",
		Type: ebpf.RawTracepoint,
		Instructions: asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	defer prog.Close()
	tgid, err := prog.Run(&ebpf.RunOptions{})
	if err != nil {
		return 0, err
	}
	if tgid == 0 {
		return 0, errors.New("the test run did not run in this process")
	}
	return tgid, nil
}
