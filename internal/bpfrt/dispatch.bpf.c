//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The syscall exit dispatcher: the only program vigil attaches to syscalls.
 * bpf/lib/syscall.h says why, and how sensors plug into it.
 */
#include "syscall.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Stage 0, observe: the HTTP sensor. Its programs chain into stage 1. */
SYSCALL_STAGE_MAP(sys_exit_observe);
/* Stage 1, secure: the file, network and privilege sensors. */
SYSCALL_STAGE_MAP(sys_exit_secure);

/* arch/x86/include/asm/thread_info.h: the task is in a 32-bit syscall,
 * whose numbers are the i386 table's, not x86_64's. */
#define TS_COMPAT 0x0002

/* Per-CPU count of the compat syscall exits passed over: userspace exports
 * it (vigil_syscalls_unseen_total), so that 32-bit programs on the node,
 * which no syscall sensor sees, do not go unnoticed. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} compat_exits SEC(".maps");

SEC("raw_tp/sys_exit")
int sys_exit_dispatch(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 nr;

	/* Like the kernel's syscalls:* tracepoints, which skip compat calls:
	 * their number would select the wrong program. */
	if (task->thread_info.status & TS_COMPAT) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&compat_exits, &zero);

		if (n)
			*n += 1;
		return 0;
	}
	nr = syscall_nr();
	bpf_tail_call(ctx, &sys_exit_observe, nr);
	/* Reached only when stage 0 has no program for nr. */
	bpf_tail_call(ctx, &sys_exit_secure, nr);
	return 0;
}
