//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Privilege sensor: changes of user and group ids (setuid family),
 * capset, ptrace, kernel module loading, memfd_create and bpf(2), from
 * syscall exits (syscall.h) (arguments from the saved registers, result
 * known), filtered and enforced by the rule policy.
 */
#include "vigil.h"
#include "syscall.h"
#include "path.h"
#include "policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NAME_LEN 256 /* memfd name */

/* Which syscall a record is for. */
enum priv_call {
	CALL_SETUID = 1,
	CALL_SETREUID,
	CALL_SETRESUID,
	CALL_SETFSUID,
	CALL_SETGID,
	CALL_SETREGID,
	CALL_SETRESGID,
	CALL_SETFSGID,
	CALL_CAPSET,
	CALL_PTRACE,
	CALL_INIT_MODULE,
	CALL_FINIT_MODULE,
	CALL_MEMFD_CREATE,
	CALL_BPF,
};

/*
 * A privilege record is this header followed by two byte strings: name
 * (memfd) and path (finit_module's file).
 */
struct priv_record {
	struct record_header hdr; /* flags: enum sec_flags */
	__u64 rules;
	__s64 ret; /* the syscall's return value */
	__u64 arg; /* ptrace: request; bpf: cmd; memfd: flags */
	__s64 ids[3];  /* setuid/setgid: real, effective, saved (fs: effective); -1 unchanged */
	__u64 caps[3]; /* capset: effective, permitted, inheritable */
	__u32 target_pid; /* ptrace */
	__u16 name_len;
	__u16 path_len;
	__u8 kind; /* enum policy_kind */
	__u8 call; /* enum priv_call */
	__u8 _pad0[6];
};

struct priv_scratch {
	struct priv_record rec;
	char data[NAME_LEN + PATH_BUF_LEN];
};

PERCPU_SLOT(priv_scratch, struct priv_scratch);

PATH_SCRATCH_MAP(path_scratch);

/* The process sensor's ring, at load: one ordered stream. */
SENSOR_OUTPUT_MAPS();

const struct priv_record *_unused_priv_record __attribute__((unused));
const enum priv_call *_unused_priv_call __attribute__((unused));

#define ARG(i) syscall_arg(i)

/*
 * priv_begin applies the policy to a call of kind k with parameter arg
 * that returned ret: it returns the record to fill (already carrying the
 * matched rules and flags, and enforced), or NULL when the call is of no
 * interest.
 */
static __always_inline struct priv_scratch *priv_begin(__u8 kind, __u8 call, __u64 arg, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct priv_scratch *s;
	struct priv_record *r;
	__u32 zero = 0;
	__u8 sf = 0;
	__u64 cand;

	if (skip_self(pid_tgid) || !policy_wanted(kind))
		return NULL;
	cand = policy_kind_rules(kind);
	if (cand) {
		cand &= policy_proc_ok(pid_tgid >> 32, &sf);
		cand = policy_params(cand, arg);
	}
	if (!cand && !policy_emit_all(kind))
		return NULL;
	s = bpf_map_lookup_elem(&priv_scratch, &zero);
	if (!s)
		return NULL;
	policy_enforce_decided(cand, &sf);
	r = &s->rec;
	__builtin_memset(r, 0, sizeof(*r));
	fill_header(&r->hdr, RECORD_PRIV, (struct task_struct *)bpf_get_current_task());
	r->hdr.flags = sf;
	r->ret = ret;
	r->rules = cand;
	r->arg = arg;
	r->kind = kind;
	r->call = call;
	r->ids[0] = r->ids[1] = r->ids[2] = -1;
	return s;
}

static __always_inline void priv_emit(struct priv_scratch *s)
{
	__u64 size = sizeof(s->rec) + s->rec.name_len + s->rec.path_len;

	if (size > sizeof(*s))
		return;
	if (bpf_ringbuf_output(&events, s, size, wakeup_flags_output(&events, size)) < 0)
		count_lost(&lost);
}

/* uid_t and gid_t are 32 bits: (uid_t)-1 means "leave unchanged". */
/* uid_t and gid_t are 32 bits: (uid_t)-1 means "leave unchanged". The
 * arguments are read only for a call the policy wants. */
#define ID(i) ((__s64)(__s32)ARG(i))
#define NONE (-1)

static __always_inline int ids_call(void *ctx, __u8 kind, __u8 call, int ri, int ei, int si)
{
	struct priv_scratch *s = priv_begin(kind, call, 0, EXIT_RET(ctx));

	if (!s)
		return 0;
	s->rec.ids[0] = ri == NONE ? -1 : ID(ri);
	s->rec.ids[1] = ei == NONE ? -1 : ID(ei);
	s->rec.ids[2] = si == NONE ? -1 : ID(si);
	priv_emit(s);
	return 0;
}

SEC("raw_tp")
int exit_setuid(void *ctx) { return ids_call(ctx, PK_SETUID, CALL_SETUID, 0, NONE, NONE); }
SEC("raw_tp")
int exit_setreuid(void *ctx) { return ids_call(ctx, PK_SETUID, CALL_SETREUID, 0, 1, NONE); }
SEC("raw_tp")
int exit_setresuid(void *ctx) { return ids_call(ctx, PK_SETUID, CALL_SETRESUID, 0, 1, 2); }
SEC("raw_tp")
int exit_setfsuid(void *ctx) { return ids_call(ctx, PK_SETUID, CALL_SETFSUID, NONE, 0, NONE); }
SEC("raw_tp")
int exit_setgid(void *ctx) { return ids_call(ctx, PK_SETGID, CALL_SETGID, 0, NONE, NONE); }
SEC("raw_tp")
int exit_setregid(void *ctx) { return ids_call(ctx, PK_SETGID, CALL_SETREGID, 0, 1, NONE); }
SEC("raw_tp")
int exit_setresgid(void *ctx) { return ids_call(ctx, PK_SETGID, CALL_SETRESGID, 0, 1, 2); }
SEC("raw_tp")
int exit_setfsgid(void *ctx) { return ids_call(ctx, PK_SETGID, CALL_SETFSGID, NONE, 0, NONE); }

#define CAP_VERSION_1 0x19980330

/* capset(hdr, data): data is two __user_cap_data_struct (low and high 32
 * bits of each set) for the 64-bit capability versions, one for version 1
 * (hdr->version says which). Reading two for version 1 would take
 * whatever follows in the caller's memory for capabilities 32-63. */
SEC("raw_tp")
int exit_capset(void *ctx)
{
	struct priv_scratch *s = priv_begin(PK_CAPSET, CALL_CAPSET, 0, EXIT_RET(ctx));
	struct {
		__u32 effective, permitted, inheritable;
	} d[2] = {};
	__u32 version = 0;

	if (!s)
		return 0;
	bpf_probe_read_user(&version, sizeof(version), (void *)ARG(0));
	if (version == CAP_VERSION_1)
		bpf_probe_read_user(d, sizeof(d[0]), (void *)ARG(1));
	else
		bpf_probe_read_user(d, sizeof(d), (void *)ARG(1));
	s->rec.caps[0] = d[0].effective | (__u64)d[1].effective << 32;
	s->rec.caps[1] = d[0].permitted | (__u64)d[1].permitted << 32;
	s->rec.caps[2] = d[0].inheritable | (__u64)d[1].inheritable << 32;
	priv_emit(s);
	return 0;
}

/* The request is the parameter rules check, so it is read for every
 * ptrace call the policy wants. */
SEC("raw_tp")
int exit_ptrace(void *ctx)
{
	struct priv_scratch *s;

	if (!policy_wanted(PK_PTRACE))
		return 0;
	s = priv_begin(PK_PTRACE, CALL_PTRACE, ARG(0), EXIT_RET(ctx));
	if (!s)
		return 0;
	s->rec.target_pid = ARG(1);
	priv_emit(s);
	return 0;
}

SEC("raw_tp")
int exit_init_module(void *ctx)
{
	struct priv_scratch *s = priv_begin(PK_MODULE, CALL_INIT_MODULE, 0, EXIT_RET(ctx));

	if (s)
		priv_emit(s);
	return 0;
}

/* finit_module(fd, ...): the module file is the open file fd. */
SEC("raw_tp")
int exit_finit_module(void *ctx)
{
	struct priv_scratch *s = priv_begin(PK_MODULE, CALL_FINIT_MODULE, 0, EXIT_RET(ctx));
	struct path_scratch *ps;
	__u32 zero = 0, start, len;
	struct file *f;
	bool trunc;

	if (!s)
		return 0;
	f = fd_file(ARG(0));
	ps = bpf_map_lookup_elem(&path_scratch, &zero);
	if (f && ps) {
		struct path p = BPF_CORE_READ(f, f_path);

		start = resolve_path(&p, ps, &trunc);
		if (start < PATH_BUF_LEN) {
			len = PATH_BUF_LEN - start;
			verifier_bound(len, 2 * PATH_BUF_LEN);
			bpf_probe_read_kernel(s->data, len, &ps->buf[start & (PATH_BUF_LEN - 1)]);
			s->rec.path_len = len;
		}
	}
	priv_emit(s);
	return 0;
}

SEC("raw_tp")
int exit_memfd_create(void *ctx)
{
	struct priv_scratch *s;
	long n;

	if (!policy_wanted(PK_MEMFD))
		return 0;
	s = priv_begin(PK_MEMFD, CALL_MEMFD_CREATE, (__u32)ARG(1), EXIT_RET(ctx)); /* unsigned int flags */
	if (!s)
		return 0;
	n = bpf_probe_read_user_str(s->data, NAME_LEN, (void *)ARG(0));
	if (n > 0)
		s->rec.name_len = n - 1;
	priv_emit(s);
	return 0;
}

SEC("raw_tp")
int exit_bpf(void *ctx)
{
	struct priv_scratch *s;

	if (!policy_wanted(PK_BPF))
		return 0;
	/* int cmd: the kernel ignores the high bits, so rules must too. */
	s = priv_begin(PK_BPF, CALL_BPF, (__u32)ARG(0), EXIT_RET(ctx));
	if (s)
		priv_emit(s);
	return 0;
}
