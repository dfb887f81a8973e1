/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared includes and conventions for every vigil BPF object. */
#ifndef VIGIL_LIB_VIGIL_H
#define VIGIL_LIB_VIGIL_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_core_read.h"
#include "bpf_tracing.h"

/*
 * The registry of record types. Every ring-buffer record starts with one
 * type byte so userspace can dispatch on it without knowing which program
 * produced the record or which ring it came through. Values are unique
 * across sensors: a new sensor adds its types here. Userspace has the Go
 * twin from bpf2go (internal/bpfrt/records.go), and the agent routes each
 * type to the handler of the sensor that declares it.
 */
enum record_type {
	RECORD_EXEC = 1,
	RECORD_FORK = 2,
	RECORD_EXIT = 3,
	RECORD_CONN_OPEN = 10,
	RECORD_DATA = 11,
	RECORD_CONN_CLOSE = 12,
	RECORD_FILE = 20,
	RECORD_NET = 21,
	RECORD_PRIV = 22,
};

#define TASK_COMM_LEN 16

/*
 * verifier_bound re-derives, in a way the verifier sees, a bound the code
 * already guarantees: var < limit, limit a power of two. The barrier hides
 * var's value from clang, so the mask cannot be optimised away, and the
 * mask is what the verifier tracks. Without it clang may hand a helper the
 * unbounded register it knows to be equal on one branch.
 */
#define verifier_bound(var, limit)             \
	do {                                   \
		asm volatile("" : "+r"(var));  \
		(var) &= ((limit) - 1);        \
	} while (0)

/*
 * The common prefix of process-scoped records: who did it, when, and in
 * which cgroup. pid is the thread-group id (what userspace calls a pid),
 * tid the thread id.
 */
struct record_header {
	__u8 type;
	__u8 flags;
	__u16 _pad0;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u64 ktime_ns;  /* CLOCK_BOOTTIME, like /proc start times */
	__u64 cgroup_id; /* cgroup v2 id: the inode of the cgroup directory */
	char comm[TASK_COMM_LEN];
};

/* One end of a socket, as records carry it (bpfrt.Endpoint decodes it). */
struct endpoint {
	__u8 addr[16]; /* IPv4 in the first 4 bytes when family is AF_INET */
	__u16 port;    /* host byte order */
	__u16 _pad0;
};

/* Types only userspace reads: declared so that every object's BTF has
 * them for bpf2go -type. */
const enum record_type *_unused_record_type __attribute__((unused));
const struct record_header *_unused_record_header __attribute__((unused));
const struct endpoint *_unused_endpoint __attribute__((unused));

/*
 * The vigil process's own activity is dropped in the kernel: userspace
 * sets filter_tgid at load (bpfrt.SensorSpec.ExcludeSelf) for every sensor
 * whose object has it; 0 keeps everything (tests watch their own children).
 * self_tgid is always vigil, whether its activity is dropped or not: no
 * rule kills or denies it (policy.h, enforce_exempt). Both are its tgid as
 * bpf_get_current_pid_tgid() gives it, in the initial pid namespace
 * (bpfrt.SelfTGID): in a container, getpid() is another number.
 */
volatile const __u32 filter_tgid = 0;
volatile const __u32 self_tgid = 0;

static __always_inline bool skip_self(__u64 pid_tgid)
{
	return filter_tgid && (pid_tgid >> 32) == filter_tgid;
}

/*
 * A per-CPU slot of one value_type: scratch space too large for the
 * 512-byte stack (a record being built), or a counter summed by userspace
 * without atomics.
 */
#define PERCPU_SLOT(name, value_type)                \
	struct {                                     \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, 1);              \
		__type(key, __u32);                  \
		__type(value, value_type);           \
	} name SEC(".maps")

/*
 * Per-CPU counters of records the kernel could not deliver (ring buffer
 * full). Userspace sums them into vigil_events_lost_total{source=...}.
 */
#define LOST_COUNTERS_MAP(name) PERCPU_SLOT(name, __u64)

/*
 * What every sensor writes to: "events", the ring, and "lost", its own
 * loss counter. The ring declared here is never created: userspace
 * replaces it at load with the ring it hands the sensor (bpfrt.Ring),
 * whose size is set there, and which other sensors may share.
 */
#define SENSOR_OUTPUT_MAPS()                          \
	struct {                                      \
		__uint(type, BPF_MAP_TYPE_RINGBUF);   \
		__uint(max_entries, 1 << 12);         \
	} events SEC(".maps");                        \
	LOST_COUNTERS_MAP(lost)

/*
 * Waking the ring buffer's reader for every record costs more than the
 * programs themselves (an irq_work and a context switch per record: the
 * exec-storm benchmark measured ~26 us per wake-up). Records are submitted
 * without a wake-up, except the one that makes the pending data cross a
 * multiple of wakeup_bytes: one wake-up per so many bytes, also when the
 * reader is stalled and the ring keeps filling. Userspace also looks every
 * 50 ms (bpfrt.PollInterval), which bounds the latency of a quiet stream.
 *
 * wakeup_bytes is a power of two set before load: 256 KiB, or an eighth of
 * a smaller ring, so that the reader is woken long before the ring is full
 * (bpfrt.WakeupBytes). Under wrk, 256 KiB against 64 KiB cut vigil's CPU
 * per request by a fifth (bench/NOTES.md, "a wake-up per 256 KiB").
 */
volatile const __u32 wakeup_bytes = 64 << 10;
#define RINGBUF_HDR 8 /* the kernel's per-record header */

/* wakeup_flags_output: for bpf_ringbuf_output of size bytes (not yet
 * reserved, so not counted as pending). */
static __always_inline __u64 wakeup_flags_output(void *ringbuf, __u64 size)
{
	__u64 avail = bpf_ringbuf_query(ringbuf, BPF_RB_AVAIL_DATA);

	__u64 every = wakeup_bytes;

	return (avail & (every - 1)) + size + RINGBUF_HDR >= every ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* wakeup_flags_submit: for bpf_ringbuf_submit of a reserved record of size
 * bytes, already counted as pending. */
static __always_inline __u64 wakeup_flags_submit(void *ringbuf, __u64 size)
{
	__u64 avail = bpf_ringbuf_query(ringbuf, BPF_RB_AVAIL_DATA);

	__u64 every = wakeup_bytes;

	return avail >= every && (avail & (every - 1)) < size + RINGBUF_HDR ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_lost(void *map)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(map, &zero);

	if (n)
		*n += 1; /* per-CPU slot: no atomics needed */
}

/*
 * The sixth syscall argument, which libbpf 1.1's bpf_tracing.h has no macro
 * for (later libbpf defines PT_REGS_PARM6_CORE_SYSCALL the same way).
 */
#ifndef PT_REGS_PARM6_CORE_SYSCALL
#if defined(__TARGET_ARCH_x86)
#define PT_REGS_PARM6_CORE_SYSCALL(x) BPF_CORE_READ(x, r9)
#elif defined(__TARGET_ARCH_arm64)
#define PT_REGS_PARM6_CORE_SYSCALL(x) BPF_CORE_READ((const struct user_pt_regs *)(x), regs[5])
#endif
#endif

/*
 * syscall_arg returns argument i of the current syscall from the user
 * registers saved at its entry. At sys_exit these still hold the
 * arguments, except the one that now holds the return value, which
 * bpf_tracing.h's PT_REGS_PARM*_CORE_SYSCALL read around: x86_64 passes
 * rdi, rsi, rdx, r10, r8, r9 and returns in rax; arm64 passes x0-x5 and
 * returns in x0, so the first argument comes from orig_x0, the copy of x0
 * the kernel saves at entry. So a sensor can see a call's arguments and its
 * result with one hook: half the hooks, and one tracepoint to detach
 * instead of two (the kernel detaches syscall tracepoints one at a time,
 * each after an RCU tasks-trace grace period).
 */
static __always_inline unsigned long syscall_arg(int i)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	switch (i) {
	case 0: return PT_REGS_PARM1_CORE_SYSCALL(regs);
	case 1: return PT_REGS_PARM2_CORE_SYSCALL(regs);
	case 2: return PT_REGS_PARM3_CORE_SYSCALL(regs);
	case 3: return PT_REGS_PARM4_CORE_SYSCALL(regs);
	case 4: return PT_REGS_PARM5_CORE_SYSCALL(regs);
	case 5: return PT_REGS_PARM6_CORE_SYSCALL(regs);
	}
	return 0;
}

/* fd_file returns the open file behind descriptor fd of the current task,
 * or NULL. Only the low 32 bits of fd count, as for the kernel, whose
 * syscalls take descriptors as int or unsigned int: a register holding
 * fd | 1 << 32 names fd there, and must here too, or a caller could hide
 * the file from a rule by setting high bits. */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	__u32 n = (__u32)fd;

	if (n >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[n]);
	return f;
}

static __always_inline void fill_header(struct record_header *h, __u8 type,
					struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	h->type = type;
	h->flags = 0;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	h->ktime_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

#endif /* VIGIL_LIB_VIGIL_H */
