//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Process lifecycle sensor: exec, fork (new processes, not threads) and
 * exit (the whole thread group), from tracepoints and raw tracepoints only,
 * so it runs on kernels without kprobes, fentry or BPF-LSM.
 */
#include "vigil.h"
#include "path.h"
#include "policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Tests set this to exercise the exit detection of kernels before 6.16 on
 * a newer kernel. */
volatile const __u8 exit_by_live_count = 0;

#define ARGS_LEN 4096     /* argv bytes kept; longer argv is flagged truncated */
#define FILENAME_LEN 512  /* execve's path argument as given */
/*
 * The start of the environment, for userspace to find OTEL_SERVICE_NAME in.
 * It must be read here: servers such as nginx and postgres overwrite their
 * environment area with their process title (setproctitle) moments after
 * starting, so /proc/<pid>/environ read later may hold the title. The
 * bytes are searched and dropped, never exported.
 */
#define ENV_LEN 4096

enum exec_flags {
	EXEC_ARGS_TRUNCATED = 1 << 0,
	EXEC_EXE_TRUNCATED = 1 << 1,
	EXEC_CWD_TRUNCATED = 1 << 2,
	EXEC_FILENAME_TRUNCATED = 1 << 3,
	EXEC_ARGS_UNREADABLE = 1 << 4,
	EXEC_ENV_TRUNCATED = 1 << 5,
};

/*
 * An exec record is this header followed by five byte strings, in order:
 * argv (NUL-separated, as in /proc/pid/cmdline), filename, exe, cwd, and
 * the environment's first ENV_LEN bytes (NUL-separated). Their lengths are
 * here; none is NUL-terminated.
 */
struct exec_record {
	struct record_header hdr;
	__u64 start_ns; /* task start, CLOCK_BOOTTIME as in /proc/pid/stat */
	__u16 args_len;
	__u16 filename_len;
	__u16 exe_len;
	__u16 cwd_len;
	__u32 argc;
	__u16 env_len;
	__u8 sflags; /* enum sec_flags: the exec's standing with the rules */
	__u8 _pad0;
	/* The process's cgroup in the memory controller: on hosts with v1
	 * hierarchies, containers managed there share v2 cgroups, and this id
	 * is what tells them apart. On pure v2 hosts it is the v2 cgroup. */
	__u64 cgroup_v1_id;
	__u64 rules; /* exec rules matched in the kernel */
};

struct fork_record {
	struct record_header hdr; /* the parent */
	__u32 child_pid;
	__u32 _pad0;
	__u64 child_start_ns;
};

struct exit_record {
	struct record_header hdr;
	__u32 exit_code; /* wait(2) status: (code << 8) | signal | core 0x80 */
	__u32 _pad0;
	__u64 start_ns;
};

#define EXEC_DATA_LEN (ARGS_LEN + FILENAME_LEN + 2 * PATH_BUF_LEN + ENV_LEN)
/* The environment, the last string, starts at most here. */
#define ENV_AT_MAX (ARGS_LEN + FILENAME_LEN + 2 * PATH_BUF_LEN)
/* The cwd, the last string, starts at most here (argv, filename, exe). */
#define PATH_AT_MAX (ARGS_LEN + FILENAME_LEN + PATH_BUF_LEN)

struct exec_scratch {
	struct exec_record rec;
	char data[EXEC_DATA_LEN];
};

PERCPU_SLOT(exec_scratch, struct exec_scratch);

PATH_SCRATCH_MAP(path_scratch);

SENSOR_OUTPUT_MAPS();

/*
 * Thread groups whose exit has been reported, for kernels whose
 * sched_process_exit has no group_dead field (before 6.16). There the last
 * thread is recognised by signal->live reaching zero, but two threads
 * exiting together can both read zero; the first to insert the tgid here
 * wins. handle_fork deletes the key when the tgid is reused by a new
 * process.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} exited SEC(".maps");

/* Force bpf2go to emit Go types for the records. */
const struct exec_record *_unused_exec __attribute__((unused));
const struct fork_record *_unused_fork __attribute__((unused));
const struct exit_record *_unused_exit __attribute__((unused));
const enum exec_flags *_unused_ef __attribute__((unused));

static __always_inline __u64 memory_cgroup_id(struct task_struct *task)
{
	struct cgroup_subsys_state *css = NULL;
	struct css_set *cset;
	int idx;

	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return 0;
	idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (idx < 0 || idx >= CGROUP_SUBSYS_COUNT)
		return 0;
	cset = BPF_CORE_READ(task, cgroups);
	bpf_probe_read_kernel(&css, sizeof(css), __builtin_preserve_access_index(&cset->subsys[idx]));
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

/* append_path resolves p and copies it to data[at...]; returns its length. */
static __always_inline __u32 append_path(const struct path *p, char *data, __u32 at,
					 struct path_scratch *ps, bool *truncated)
{
	__u32 start = resolve_path(p, ps, truncated);
	__u32 len;

	/* Paths go after argv and filename, so they start below PATH_AT_MAX;
	 * the checks restate bounds the verifier cannot derive on its own. */
	if (start >= PATH_BUF_LEN || at > PATH_AT_MAX)
		return 0;
	len = (PATH_BUF_LEN - start) & (PATH_BUF_LEN - 1);
	bpf_probe_read_kernel(&data[at], len, &ps->buf[start & (PATH_BUF_LEN - 1)]);
	return len;
}

/*
 * exec_policy decides the new image's standing with the rules from its
 * executable (exe_len bytes at exe) and its parent's standing, records it
 * in procs for the process's later events, and returns the exec rules it
 * matches, killing the process when one of them says so.
 */
static __always_inline __u64 exec_policy(struct exec_record *r, const char *exe, __u32 exe_len, bool exe_trunc)
{
	struct policy_scratch *pk = policy_scratch();
	struct proc_policy st = {}, *parent;
	__u64 pok, rules, undecided = 0;
	__u32 tgid = r->hdr.pid, ppid = r->hdr.ppid;

	if (!pk)
		return 0;
	if (exe_trunc) {
		/* Deeper than the dentry walk goes: what it built is a tail of
		 * the real path, which could match patterns the real path does
		 * not, or miss those it does. The executable's rules, for this
		 * process and as its children's parent, are left to userspace,
		 * which reads /proc/<pid>/exe (SEC_INEXACT tells the children). */
		st.exe_ok = ~0ULL;
		st.as_parent = ~0ULL;
		st.flags = SEC_PROC_UNKNOWN | SEC_INEXACT;
		undecided = pol_exe_any | pol_pexe_any;
	} else {
		policy_set_key(&pk->key, exe, exe_len);
		st.exe_ok = policy_str_dim(&pol_exe, &pk->key, pol_exe_wild);
		st.as_parent = policy_str_dim(&pol_pexe, &pk->key, pol_pexe_wild);
	}
	/* Rules about the parent that cannot be decided stay candidates
	 * (policy_proc_ok), for userspace. */
	parent = bpf_map_lookup_elem(&procs, &ppid);
	if (parent) {
		pok = parent->as_parent;
		if (parent->flags & SEC_INEXACT) {
			st.flags |= SEC_PROC_UNKNOWN;
			undecided |= pol_pexe_any;
		}
	} else {
		pok = ~0ULL;
		st.flags |= SEC_PROC_UNKNOWN;
		undecided |= pol_pexe_any;
	}
	st.ok = st.exe_ok & pok;
	bpf_map_update_elem(&procs, &tgid, &st, BPF_ANY);

	rules = policy_kind_rules(PK_EXEC) & st.ok;
	r->sflags = st.flags;
	policy_enforce(rules & ~undecided, &r->sflags);
	return rules;
}

/*
 * At sched_process_exec the new image is in place: mm->arg_start..arg_end
 * holds argv exactly as the kernel copied it into the new stack (so the
 * pages are present), and mm->exe_file is the binary actually running
 * (after #! and symlinks), which is what a security rule wants to match.
 */
SEC("raw_tracepoint/sched_process_exec")
int handle_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	__u32 zero = 0;
	struct exec_scratch *s;
	struct path_scratch *ps;
	struct exec_record *r;
	struct mm_struct *mm;
	struct path p;
	bool trunc;
	__u32 off = 0, len;
	__u64 size;
	long n;

	if (skip_self(bpf_get_current_pid_tgid()))
		return 0;

	s = bpf_map_lookup_elem(&exec_scratch, &zero);
	ps = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!s || !ps)
		return 0;
	r = &s->rec;
	fill_header(&r->hdr, RECORD_EXEC, task);
	r->start_ns = BPF_CORE_READ(task, start_boottime);
	r->argc = BPF_CORE_READ(bprm, argc);
	r->cgroup_v1_id = memory_cgroup_id(task);

	mm = BPF_CORE_READ(task, mm);
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);

	len = 0;
	if (arg_end > arg_start) {
		__u64 want = arg_end - arg_start;

		if (want > ARGS_LEN - 1) {
			want = ARGS_LEN - 1;
			r->hdr.flags |= EXEC_ARGS_TRUNCATED;
		}
		len = want & (ARGS_LEN - 1);
		if (bpf_probe_read_user(s->data, len, (void *)arg_start) < 0) {
			r->hdr.flags |= EXEC_ARGS_UNREADABLE;
			len = 0;
		}
	}
	r->args_len = len;
	off = len;

	n = bpf_probe_read_kernel_str(&s->data[off & (ARGS_LEN - 1)], FILENAME_LEN,
				      BPF_CORE_READ(bprm, filename));
	len = 0;
	if (n > 0) {
		len = (n - 1) & (FILENAME_LEN - 1); /* drop the NUL */
		if (n == FILENAME_LEN)
			r->hdr.flags |= EXEC_FILENAME_TRUNCATED;
	}
	r->filename_len = len;
	off += len;

	p = BPF_CORE_READ(mm, exe_file, f_path);
	len = append_path(&p, s->data, off, ps, &trunc);
	if (trunc)
		r->hdr.flags |= EXEC_EXE_TRUNCATED;
	r->exe_len = len;
	r->rules = 0;
	r->sflags = 0;
	if (pol_active && off <= PATH_AT_MAX)
		r->rules = exec_policy(r, &s->data[off], len, trunc);
	off += len;

	p = BPF_CORE_READ(task, fs, pwd);
	len = append_path(&p, s->data, off, ps, &trunc);
	if (trunc)
		r->hdr.flags |= EXEC_CWD_TRUNCATED;
	r->cwd_len = len;
	off += len;

	unsigned long env_start = BPF_CORE_READ(mm, env_start);
	unsigned long env_end = BPF_CORE_READ(mm, env_end);

	len = 0;
	if (env_end > env_start && off <= ENV_AT_MAX) {
		__u64 want = env_end - env_start;

		if (want > ENV_LEN - 1) {
			want = ENV_LEN - 1;
			r->hdr.flags |= EXEC_ENV_TRUNCATED;
		}
		len = want;
		verifier_bound(len, ENV_LEN);
		if (off > ENV_AT_MAX || bpf_probe_read_user(&s->data[off], len, (void *)env_start) < 0)
			len = 0;
	}
	r->env_len = len;
	off += len;

	if (off > EXEC_DATA_LEN)
		return 0;
	size = sizeof(struct exec_record) + off;
	if (bpf_ringbuf_output(&events, s, size, wakeup_flags_output(&events, size)) < 0)
		count_lost(&lost);
	return 0;
}

/* sched_process_fork fires for threads too; only a new thread group (a
 * process) is an event. */
SEC("raw_tracepoint/sched_process_fork")
int handle_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	struct fork_record *r;
	__u32 child_pid = BPF_CORE_READ(child, pid);

	if (BPF_CORE_READ(child, tgid) != child_pid)
		return 0;
	bpf_map_delete_elem(&exited, &child_pid);
	if (pol_active) {
		/* The child runs its parent's executable, and its parent is
		 * the process that forked it. */
		__u32 ptgid = BPF_CORE_READ(parent, tgid);
		struct proc_policy *pp = bpf_map_lookup_elem(&procs, &ptgid);

		if (pp) {
			struct proc_policy st = {
				.exe_ok = pp->exe_ok,
				.as_parent = pp->as_parent,
				.ok = pp->exe_ok & pp->as_parent,
			};

			bpf_map_update_elem(&procs, &child_pid, &st, BPF_ANY);
		} else {
			bpf_map_delete_elem(&procs, &child_pid);
		}
	}
	if (skip_self(bpf_get_current_pid_tgid()))
		return 0;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_lost(&lost);
		return 0;
	}
	fill_header(&r->hdr, RECORD_FORK, parent);
	r->child_pid = child_pid;
	r->_pad0 = 0;
	r->child_start_ns = BPF_CORE_READ(child, start_boottime);
	bpf_ringbuf_submit(r, wakeup_flags_submit(&events, sizeof(*r)));
	return 0;
}

/*
 * The tracepoint's event layout, for a CO-RE check: it has group_dead
 * exactly when the tracepoint passes it (6.16+), as its second argument.
 */
struct trace_event_raw_sched_process_exit___compat {
	bool group_dead;
} __attribute__((preserve_access_index));

/*
 * is_group_exit tells whether the exiting thread is the last of its thread
 * group, i.e. whether the process has exited.
 */
static __always_inline bool is_group_exit(struct bpf_raw_tracepoint_args *ctx, struct task_struct *task)
{
	__u32 tgid;
	__u8 one = 1;

	/* 6.16+: the kernel's own atomic_dec_and_test() result. */
	if (!exit_by_live_count && bpf_core_field_exists(struct trace_event_raw_sched_process_exit___compat, group_dead))
		return (bool)ctx->args[1];

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return false;
	tgid = BPF_CORE_READ(task, tgid);
	return bpf_map_update_elem(&exited, &tgid, &one, BPF_NOEXIST) == 0;
}

/*
 * sched_process_exit fires once per exiting thread; a process has exited
 * when its last thread does. A raw tracepoint rather than the perf one:
 * no trace record is built per exit, and detaching it needs no RCU grace
 * period (a perf tracepoint's release waits for one, ~70 ms at shutdown).
 */
SEC("raw_tracepoint/sched_process_exit")
int handle_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx->args[0];
	struct exit_record *r;

	if (!is_group_exit(ctx, task))
		return 0;
	if (pol_active) {
		__u32 tgid = BPF_CORE_READ(task, tgid);

		bpf_map_delete_elem(&procs, &tgid);
	}
	if (skip_self(bpf_get_current_pid_tgid()))
		return 0;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_lost(&lost);
		return 0;
	}
	fill_header(&r->hdr, RECORD_EXIT, task);
	r->exit_code = BPF_CORE_READ(task, exit_code);
	r->_pad0 = 0;
	r->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	bpf_ringbuf_submit(r, wakeup_flags_submit(&events, sizeof(*r)));
	return 0;
}
