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

/*
 * compat_syscall says the task is in a 32-bit (compat) syscall, whose
 * number is another table's than the one sensors' programs are set by.
 *
 * x86_64: the thread_info status bit TS_COMPAT
 * (arch/x86/include/asm/thread_info.h), set for int $0x80 and for 32-bit
 * tasks' syscalls; the kernel's in_ia32_syscall.
 *
 * arm64: a 32-bit (AArch32) EL0 task. The kernel tests TIF_32BIT in
 * thread_info.flags, but TIF_ bit numbers are #defines, not in BTF, so
 * CO-RE cannot follow them if they move. The saved user PSTATE says the
 * same thing architecturally: its M[4] bit (PSR_MODE32_BIT) is set when
 * the task trapped from AArch32 (the kernel's compat_user_mode). CPUs
 * without AArch32 at EL0 never set it.
 */
#if defined(__TARGET_ARCH_x86)
#define TS_COMPAT 0x0002

static __always_inline bool compat_syscall(void)
{
	return bpf_get_current_task_btf()->thread_info.status & TS_COMPAT;
}
#elif defined(__TARGET_ARCH_arm64)
#define PSR_MODE32_BIT 0x00000010

static __always_inline bool compat_syscall(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return regs->pstate & PSR_MODE32_BIT;
}
#endif

/* Per-CPU count of the compat syscall exits passed over: userspace exports
 * it (vigil_syscalls_unseen_total), so that 32-bit programs on the node,
 * which no syscall sensor sees, do not go unnoticed. */
PERCPU_SLOT(compat_exits, __u64);

SEC("raw_tp/sys_exit")
int sys_exit_dispatch(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 nr;

	/* Like the kernel's syscalls:* tracepoints, which skip compat calls:
	 * their number would select the wrong program. */
	if (compat_syscall()) {
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
