/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The rule policy, as the kernel side evaluates it: which security events
 * reach userspace at all, and which are enforced on the spot.
 *
 * Userspace (internal/bpfpolicy) compiles the rules into the constants and
 * maps below. The process sensor owns the maps; every other sensor that
 * includes this header is loaded with the process sensor's maps in their
 * place, so all of them see one policy and one table of processes.
 *
 * Rules are the bits of a __u64. For an event of kind K the candidates are
 *
 *   pol_kind_rules[K] & process_ok & dim(path) & dim(name) & ...
 *
 * where each string dimension is one longest-prefix-match lookup whose
 * value already includes the masks of every shorter matching entry
 * (userspace closes the trie), and evaluates to (pos | wild) & ~neg:
 * rules with no positive pattern in a dimension are in its wild mask.
 * The survivors then pass the per-rule parameter check (open flags, chmod
 * mode bits, ptrace request, ...). What remains is matched: sent to
 * userspace with its mask, and killed or denied when a matched rule says so.
 */
#ifndef VIGIL_LIB_POLICY_H
#define VIGIL_LIB_POLICY_H

#include "vigil.h"

#define POLICY_MAX_RULES 64
#define POLICY_KEY_LEN 256  /* the LPM trie's data limit */
#define POLICY_NAME_LEN 64  /* base names of at most 63 bytes */
#define POLICY_MAX_VALUES 8

#define SIGKILL 9

/* Event kinds the policy knows; userspace mirrors them (bpf2go -type). */
enum policy_kind {
	PK_EXEC = 1,
	PK_OPEN,
	PK_UNLINK,
	PK_RENAME,
	PK_LINK,
	PK_SYMLINK,
	PK_CHMOD,
	PK_CHOWN,
	PK_MOUNT,
	PK_CONNECT,
	PK_ACCEPT,
	PK_BIND,
	PK_LISTEN,
	PK_SOCKET,
	PK_DUP,
	PK_SETUID,
	PK_SETGID,
	PK_CAPSET,
	PK_PTRACE,
	PK_MODULE,
	PK_MEMFD,
	PK_BPF,
	PK_MAX,
};

/* Flags of security records (record_header.flags). */
enum sec_flags {
	SEC_KILLED = 1 << 0,       /* SIGKILL sent in the kernel */
	SEC_DENIED = 1 << 1,       /* the operation was refused (EPERM) */
	SEC_PROC_UNKNOWN = 1 << 2, /* the process is not in procs: rules with
				    * process selectors were not evaluated */
	SEC_INEXACT = 1 << 3,      /* a path could not be normalized in the kernel:
				    * its dimensions were not evaluated */
};

struct policy_masks {
	__u64 pos;
	__u64 neg;
};

struct policy_str_key {
	__u32 prefixlen; /* bits */
	__u8 data[POLICY_KEY_LEN];
};

struct policy_name_key {
	__u8 name[POLICY_NAME_LEN];
};

struct policy_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct policy_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* A rule's check of the event's scalar argument: (any_bits == 0 or arg &
 * any_bits) and (nvalues == 0 or arg & value_mask is one of values). */
struct policy_param {
	__u64 any_bits;
	__u64 value_mask;
	__u64 values[POLICY_MAX_VALUES];
	__u32 nvalues;
	__u32 _pad0;
};

/*
 * A process's standing with the rules, decided at exec from its executable
 * and its parent's: exe_ok for the rules' exe selectors, as_parent for the
 * rules' parent_exe selectors applied to this process's executable (what
 * its children inherit), ok = exe_ok & the parent's as_parent. A forked
 * child takes its parent's executable, so its ok is exe_ok & as_parent.
 */
struct proc_policy {
	__u64 exe_ok;
	__u64 as_parent;
	__u64 ok;
	__u32 flags; /* SEC_PROC_UNKNOWN: the parent was not known at exec */
	__u32 _pad0;
};

/*
 * Load-time configuration, the same in every sensor object. Per dimension,
 * *_wild holds the rules without a positive pattern there (they pass it
 * unless a negative pattern matches) and *_any the rules with any pattern
 * there: a dimension no candidate rule uses is not looked up.
 */
volatile const __u8 pol_active = 0;               /* any rule, or any kind emitted whole */
volatile const __u64 pol_kind_rules[PK_MAX] = {}; /* rules per kind */
volatile const __u8 pol_emit_all[PK_MAX] = {};    /* emit every event of the kind (vigil trace) */
volatile const __u64 pol_exe_wild = 0;
volatile const __u64 pol_exe_any = 0;
volatile const __u64 pol_pexe_wild = 0;
volatile const __u64 pol_pexe_any = 0;
volatile const __u64 pol_path_wild = 0;
volatile const __u64 pol_path_any = 0;
volatile const __u64 pol_name_wild = 0;
volatile const __u64 pol_name_any = 0;
volatile const __u64 pol_target_wild = 0;
volatile const __u64 pol_target_any = 0;
volatile const __u64 pol_dest_wild = 0;
volatile const __u64 pol_dest_any = 0;
volatile const __u64 pol_port_wild = 0;
volatile const __u64 pol_port_any = 0;
volatile const __u64 pol_kill = 0;        /* rules whose action is kill */
volatile const __u64 pol_deny = 0;        /* rules whose action is deny */
volatile const __u64 pol_with_params = 0; /* rules with a parameter check */
volatile const struct policy_param pol_params[POLICY_MAX_RULES] = {};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tgid */
	__type(value, struct proc_policy);
} procs SEC(".maps");

#define POLICY_STR_TRIE(name)                          \
	struct {                                       \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);   \
		__uint(max_entries, 4096);             \
		__uint(map_flags, BPF_F_NO_PREALLOC);  \
		__type(key, struct policy_str_key);    \
		__type(value, struct policy_masks);    \
	} name SEC(".maps")

POLICY_STR_TRIE(pol_exe);
POLICY_STR_TRIE(pol_pexe);
POLICY_STR_TRIE(pol_path);
POLICY_STR_TRIE(pol_target);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_name_key);
	__type(value, struct policy_masks);
} pol_name SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_v4_key);
	__type(value, struct policy_masks);
} pol_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct policy_v6_key);
	__type(value, struct policy_masks);
} pol_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u16); /* host byte order */
	__type(value, struct policy_masks);
} pol_port SEC(".maps");

/* Lookup keys are too large for the stack. */
struct policy_scratch {
	struct policy_str_key key;
	struct policy_name_key name;
};

PERCPU_SLOT(pol_scratch, struct policy_scratch);

/* Types only userspace reads; bpf2go emits the others from the maps. */
const enum policy_kind *_unused_policy_kind __attribute__((unused));
const enum sec_flags *_unused_sec_flags __attribute__((unused));

static __always_inline struct policy_scratch *policy_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pol_scratch, &zero);
}

/* policy_wanted says whether an event of kind k can matter at all: some
 * rule names the kind, or every event of it is wanted. */
static __always_inline bool policy_wanted(__u32 k)
{
	return k < PK_MAX && (pol_kind_rules[k] || pol_emit_all[k]);
}

static __always_inline bool policy_emit_all(__u32 k)
{
	return k < PK_MAX && pol_emit_all[k];
}

static __always_inline __u64 policy_kind_rules(__u32 k)
{
	return k < PK_MAX ? pol_kind_rules[k] : 0;
}

/* policy_dim evaluates one dimension from its lookup result. */
static __always_inline __u64 policy_dim(const struct policy_masks *m, __u64 wild)
{
	if (!m)
		return wild;
	return (m->pos | wild) & ~m->neg;
}

/*
 * policy_set_key fills k with the len bytes at src (kernel memory), cut to
 * the trie's limit. A string that fits gets its NUL, so that exact
 * patterns (stored with theirs) match only the whole string.
 */
static __always_inline void policy_set_key(struct policy_str_key *k, const void *src, __u32 len)
{
	if (len >= POLICY_KEY_LEN) {
		len = POLICY_KEY_LEN - 1;
	} else {
		__u32 nul = len;

		verifier_bound(nul, POLICY_KEY_LEN);
		k->data[nul] = 0;
	}
	verifier_bound(len, POLICY_KEY_LEN);
	bpf_probe_read_kernel(k->data, len, src);
	k->prefixlen = (len < POLICY_KEY_LEN - 1 ? len + 1 : len) * 8;
}

/* policy_str_dim looks k up in trie: the dimension's result. */
static __always_inline __u64 policy_str_dim(void *trie, struct policy_str_key *k, __u64 wild)
{
	return policy_dim(bpf_map_lookup_elem(trie, k), wild);
}

/* policy_name_dim evaluates the base-name dimension for name[0..len). */
static __always_inline __u64 policy_name_dim(struct policy_name_key *k, const void *name, __u32 len)
{
	if (len >= POLICY_NAME_LEN)
		return pol_name_wild; /* longer than any pattern: matches none */
	__builtin_memset(k, 0, sizeof(*k));
	verifier_bound(len, POLICY_NAME_LEN);
	bpf_probe_read_kernel(k->name, len, name);
	return policy_dim(bpf_map_lookup_elem(&pol_name, k), pol_name_wild);
}

/*
 * policy_proc_ok is the rules the current process's event is a candidate
 * for, as far as its standing goes. A process the table does not know (it
 * was evicted, or vigil is still seeding) is flagged SEC_PROC_UNKNOWN and
 * stays a candidate for every rule: the kernel cannot decide the rules
 * with process selectors, so an event matching them on every other
 * dimension must reach userspace, which decides them from its own process
 * table (dropping it here, as vigil once did, made an evicted process
 * invisible to such rules). A process whose parent was unknown at its
 * exec, or whose executable was too deep to walk, is flagged too and its
 * standing keeps the rules it leaves undecided. Such rules are never
 * enforced: policy_enforce_decided.
 */
static __always_inline __u64 policy_proc_ok(__u32 tgid, __u8 *flags)
{
	struct proc_policy *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p) {
		*flags |= p->flags;
		return p->ok;
	}
	*flags |= SEC_PROC_UNKNOWN;
	return ~0ULL;
}

/*
 * policy_undecided is, for an event with flags, the rules the kernel could
 * not decide: those with process selectors when the process is flagged
 * SEC_PROC_UNKNOWN, else none. Branch-free on purpose: the masks are
 * load-time constants the verifier knows, and a branch here doubles the
 * states of every later test of the candidates (the open program then
 * outgrew the verifier's budget).
 */
static __always_inline __u64 policy_undecided(__u8 flags)
{
	__u64 unknown = (flags >> __builtin_ctz(SEC_PROC_UNKNOWN)) & 1;

	return -unknown & (pol_exe_any | pol_pexe_any);
}

static __always_inline bool policy_param_ok(const volatile struct policy_param *p, __u64 arg)
{
	__u32 n = p->nvalues;
	int i;

	if (p->any_bits && !(arg & p->any_bits))
		return false;
	if (!n)
		return true;
	arg &= p->value_mask;
	for (i = 0; i < POLICY_MAX_VALUES; i++) {
		if (i >= n)
			break;
		if (p->values[i] == arg)
			return true;
	}
	return false;
}

/* bit_index is the position of the single bit set in b. */
static __always_inline __u32 bit_index(__u64 b)
{
	__u32 n = 0;

	if (b >> 32) {
		n += 32;
		b >>= 32;
	}
	if (b >> 16) {
		n += 16;
		b >>= 16;
	}
	if (b >> 8) {
		n += 8;
		b >>= 8;
	}
	if (b >> 4) {
		n += 4;
		b >>= 4;
	}
	if (b >> 2) {
		n += 2;
		b >>= 2;
	}
	if (b >> 1)
		n += 1;
	return n;
}

struct param_ctx {
	__u64 cand;
	__u64 todo; /* candidates whose check is still to do */
	__u64 arg;
};

static int param_step(__u32 i, struct param_ctx *c)
{
	__u64 bit = c->todo & -c->todo;

	if (!bit)
		return 1;
	c->todo &= c->todo - 1;
	if (!policy_param_ok(&pol_params[bit_index(bit) & (POLICY_MAX_RULES - 1)], c->arg))
		c->cand &= ~bit;
	return 0;
}

/*
 * policy_params drops the candidates whose parameter check arg fails,
 * visiting only the candidates that have one. bpf_loop keeps verification
 * to one pass over the step, whatever the number of rules.
 */
static __always_inline __u64 policy_params(__u64 cand, __u64 arg)
{
	struct param_ctx c = {.cand = cand, .todo = cand & pol_with_params, .arg = arg};

	if (c.todo)
		bpf_loop(POLICY_MAX_RULES, param_step, &c, 0);
	return c.cand;
}

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */

/*
 * enforce_exempt says whether the current process is one no rule may kill
 * or deny, whatever it matches: vigil itself (self_tgid; killing it would
 * end all protection, and a rule naming only a destination matches its own
 * connects), the node's init (tgid 1 in the initial pid namespace, whose
 * death panics the kernel; a container's init has another tgid there), and
 * kernel threads (their sockets, such as NFS's, pass the cgroup connect
 * hooks too; they cannot be killed). Their events are still reported, and
 * the alerts say `alert`: what was done.
 */
static __always_inline bool enforce_exempt(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task;

	if (tgid <= 1 || tgid == self_tgid)
		return true;
	task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, flags) & PF_KTHREAD;
}

/*
 * policy_enforce kills the current process when a matched rule says so.
 * The signal is delivered before the syscall returns to user space: the
 * triggering syscall itself completes, but the process never runs another
 * instruction of its own (it never uses the file it opened, never executes
 * a byte of the binary it exec'ed). An exempt process is not killed.
 */
static __always_inline void policy_enforce(__u64 matched, __u8 *flags)
{
	if ((matched & pol_kill) && !enforce_exempt()) {
		bpf_send_signal(SIGKILL);
		*flags |= SEC_KILLED;
	}
}

/*
 * policy_enforce_decided is policy_enforce for the candidates of a
 * policy_proc_ok standing: only the rules the kernel decided are enforced.
 */
static __always_inline void policy_enforce_decided(__u64 matched, __u8 *flags)
{
	if (matched & pol_kill)
		policy_enforce(matched & ~policy_undecided(*flags), flags);
}

#endif /* VIGIL_LIB_POLICY_H */
