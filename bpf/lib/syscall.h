/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Syscall exits reach sensor programs through one dispatcher: a raw
 * tracepoint on sys_exit (internal/bpfrt/dispatch.bpf.c) that tail-calls,
 * by syscall number, into a program array per stage.
 *
 * Why not a tracepoint per syscall: the kernel releases a syscalls:sys_exit_*
 * perf event under one global mutex, after an RCU grace period each (60-80
 * ms with rcu_expedited=0), so 40 of them took vigil 2-3 s to stop. A raw
 * tracepoint link detaches in under a millisecond and an array entry in a
 * few microseconds. The price is the dispatcher on every syscall while
 * any sensor is attached (~0.1 us here), against a cheaper path for the
 * hooked calls, which no longer build a perf trace record.
 *
 * A syscall may be wanted by programs of both stages (connect: the HTTP
 * sensor tracks the socket, the network sensor reports it); an array slot
 * holds one program, so the observe stage's programs end by tail-calling
 * the secure stage's program for the same syscall, if any.
 *
 * Programs of a stage are SEC("raw_tp") with no target: they are never
 * attached, only put in their stage's array by userspace. Their context is
 * sys_exit's: args[0] the saved user registers, args[1] the return value
 * (EXIT_RET).
 */
#ifndef VIGIL_LIB_SYSCALL_H
#define VIGIL_LIB_SYSCALL_H

#include "vigil.h"

/* Syscall numbers are below this on every architecture vigil runs on
 * (x86_64 and arm64: ~470); x32 calls, with bit 30 set, fall outside and
 * miss, as does -1 (no syscall, as a tracer or seccomp can set it). */
#define SYSCALL_SLOTS 1024

#define SYSCALL_STAGE_MAP(name)                          \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);   \
		__uint(max_entries, SYSCALL_SLOTS);      \
		__type(key, __u32);                      \
		__type(value, __u32);                    \
	} name SEC(".maps")

/* The syscall's return value, from a stage program's context. */
#define EXIT_RET(ctx) ((long)((struct bpf_raw_tracepoint_args *)(ctx))->args[1])

/* syscall_nr is the number of the syscall the current task is in, from the
 * registers saved at its entry: on x86_64 orig_ax, which survives the
 * return value in ax; on arm64 syscallno, the number the kernel took from
 * w8 at entry and dispatched on (its syscall_get_nr). */
static __always_inline __u32 syscall_nr(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

#if defined(__TARGET_ARCH_x86)
	return regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	return regs->syscallno;
#else
#error "syscall_nr: no syscall number register for this architecture"
#endif
}

#endif /* VIGIL_LIB_SYSCALL_H */
