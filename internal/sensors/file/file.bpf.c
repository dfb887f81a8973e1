//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * File sensor: opens, unlinks, renames, links, symlinks, chmod, chown and
 * mounts, from syscall exits only (syscall.h), filtered by the rule policy
 * (policy.h) in the kernel so that only what a rule wants reaches
 * userspace, and enforced here (kill) when a rule says so.
 *
 * Every call is seen at its exit, with its arguments read from the saved
 * user registers (syscall_arg): one hook per call, and the result known.
 * For an open, the new file descriptor leads to the file actually opened,
 * whose path the dentry walk gives exactly (relative paths, "..", symlinks
 * and bind mounts all resolved). The other calls leave no file behind to
 * look at, so their path is the lexical one they were given (lexical.h).
 */
#include "vigil.h"
#include "syscall.h"
#include "path.h"
#include "policy.h"
#include "lexical.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SRC_LEN 256   /* mount source, as given */
#define FSTYPE_LEN 64 /* mount filesystem type */

#define O_WRONLY 01
#define O_ACCMODE 03
#define O_CREAT 0100
#define O_TRUNC 01000
/* f_mode bit for "this open created the file" (include/linux/fs.h, stable
 * since 4.19; not in BTF since it is a #define). */
#define FMODE_CREATED (1 << 20)
#define S_IFMT 00170000
#define S_IFDIR 0040000
#define AT_REMOVEDIR 0x200
#define ENAMETOOLONG 36

enum file_flags {
	FILE_CREATED = 1 << 0,         /* open: the file was created */
	FILE_DIR = 1 << 1,             /* unlink: a directory (rmdir) */
	FILE_PATH_TRUNCATED = 1 << 2,  /* path cut short (deeper than the dentry walk goes) */
};

/*
 * A file record is this header followed by four byte strings, in order:
 * path, path2 (rename: new path; link: target file; symlink: target),
 * mount source and mount fstype. Their lengths are here; none is
 * NUL-terminated.
 */
struct file_record {
	struct record_header hdr; /* flags: enum sec_flags */
	__u64 rules;              /* rules matched in the kernel */
	__s64 ret;                /* the syscall's return value */
	__u64 arg;                /* open: flags as given; mount: flags */
	__s64 uid;                /* chown: owner set, -1 unchanged */
	__s64 gid;
	__u32 mode; /* chmod: mode; open: creation mode */
	__u16 path_len;
	__u16 path2_len;
	__u16 src_len;
	__u16 fstype_len;
	__u8 kind; /* enum policy_kind */
	__u8 fflags;
	__u16 _pad0;
};

#define FILE_DATA_LEN (2 * PATH_BUF_LEN + SRC_LEN + FSTYPE_LEN)

struct file_scratch {
	struct file_record rec;
	/* path2 lands at an offset below PATH_BUF_LEN with a length below
	 * PATH_BUF_LEN; source and fstype after both: the slack lets the
	 * verifier see every masked copy fit. */
	char data[FILE_DATA_LEN + PATH_BUF_LEN];
};

PERCPU_SLOT(file_scratch, struct file_scratch);

PATH_SCRATCH_MAP(path_scratch);

PERCPU_SLOT(lex_scratch, struct lex_scratch);

/* The process sensor's ring, at load: one ordered stream. */
SENSOR_OUTPUT_MAPS();

const struct file_record *_unused_file_record __attribute__((unused));
const enum file_flags *_unused_file_flags __attribute__((unused));

struct file_bufs {
	struct file_scratch *s;
	struct path_scratch *ps;
	struct lex_scratch *lx;
	struct policy_scratch *pk;
};

static __always_inline bool file_bufs(struct file_bufs *b)
{
	__u32 zero = 0;

	b->s = bpf_map_lookup_elem(&file_scratch, &zero);
	b->ps = bpf_map_lookup_elem(&path_scratch, &zero);
	b->lx = bpf_map_lookup_elem(&lex_scratch, &zero);
	b->pk = policy_scratch();
	return b->s && b->ps && b->lx && b->pk;
}

/*
 * walk_to resolves p with the dentry walk and copies it to data[at...];
 * returns its length (0: unresolvable).
 */
static __always_inline __u32 walk_to(const struct path *p, struct file_bufs *b, __u32 at, bool *trunc)
{
	__u32 start = resolve_path(p, b->ps, trunc);
	__u32 len;

	if (start >= PATH_BUF_LEN || at >= PATH_BUF_LEN)
		return 0;
	len = PATH_BUF_LEN - start;
	verifier_bound(len, 2 * PATH_BUF_LEN);
	verifier_bound(at, PATH_BUF_LEN);
	bpf_probe_read_kernel(&b->s->data[at], len, &b->ps->buf[start & (PATH_BUF_LEN - 1)]);
	return len;
}

/*
 * fold_to normalizes lx->in[0, in_len) and copies the result to data[at...];
 * returns its length (0: too long to fold) and where its base name starts
 * in data.
 */
static __always_inline __u32 fold_to(struct file_bufs *b, __u32 in_len, __u32 at, __u32 *name_at)
{
	__u32 len, nat = 0;

	len = lex_fold(b->lx, in_len, &nat);
	if (!len || at >= PATH_BUF_LEN)
		return 0;
	verifier_bound(len, 2 * PATH_BUF_LEN);
	verifier_bound(at, PATH_BUF_LEN);
	bpf_probe_read_kernel(&b->s->data[at], len, b->lx->out);
	*name_at = at + nat;
	return len;
}

/* user_abs copies the n-byte user string of lx (an absolute path) to lx->in. */
static __always_inline __u32 user_abs(struct lex_scratch *lx, long n)
{
	verifier_bound(n, PATH_BUF_LEN);
	bpf_probe_read_kernel(lx->in, n, lx->user);
	return n;
}

/*
 * lexical_to puts the absolute, normalized path of the user string up,
 * relative to dfd, at data[at...]; returns its length (0: unreadable or
 * too long) and where its base name starts in data.
 */
static __always_inline __u32 lexical_to(int dfd, const char *up, struct file_bufs *b, __u32 at,
					__u32 *name_at)
{
	struct lex_scratch *lx = b->lx;
	long n = lex_user(lx, up);
	struct path base;
	bool trunc;
	__u32 start, in_len;

	if (n < 0)
		return 0;
	if (n > 0 && lx->user[0] == '/')
		return fold_to(b, user_abs(lx, n), at, name_at);
	if (dfd == AT_FDCWD) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		base = BPF_CORE_READ(task, fs, pwd);
	} else {
		struct file *f = fd_file(dfd);

		if (!f)
			return 0;
		base = BPF_CORE_READ(f, f_path);
	}
	start = resolve_path(&base, b->ps, &trunc);
	if (start >= PATH_BUF_LEN)
		return 0;
	in_len = lex_join(lx, &b->ps->buf[start & (PATH_BUF_LEN - 1)], PATH_BUF_LEN - start, n);
	return in_len ? fold_to(b, in_len, at, name_at) : 0;
}

/* path_dims evaluates the path and name dimensions for the path at
 * data[at, at+len) whose base name starts at data[name_at]. */
static __always_inline __u64 path_dims(__u64 cand, struct file_bufs *b, __u32 at, __u32 len, __u32 name_at)
{
	if (at >= PATH_BUF_LEN || len > PATH_BUF_LEN || name_at < at || name_at > at + len)
		return 0;
	if (cand & pol_path_any) {
		policy_set_key(&b->pk->key, &b->s->data[at & (PATH_BUF_LEN - 1)], len);
		cand &= policy_str_dim(&pol_path, &b->pk->key, pol_path_wild);
	}
	if (cand & pol_name_any) {
		__u32 nlen = at + len - name_at;

		cand &= policy_name_dim(&b->pk->name, &b->s->data[name_at & (2 * PATH_BUF_LEN - 1)], nlen);
	}
	return cand;
}

/* emit writes the record in b->s with len bytes of strings. */
static __always_inline void emit(struct file_bufs *b, __u32 len)
{
	__u64 size = sizeof(struct file_record) + len;

	if (size > sizeof(struct file_scratch))
		return;
	if (bpf_ringbuf_output(&events, b->s, size, wakeup_flags_output(&events, size)) < 0)
		count_lost(&lost);
}

static __always_inline void fill_file_record(struct file_record *r, __u8 kind, __u8 sflags, __u64 rules)
{
	fill_header(&r->hdr, RECORD_FILE, (struct task_struct *)bpf_get_current_task());
	r->hdr.flags = sflags;
	r->rules = rules;
	r->ret = 0;
	r->arg = 0;
	r->uid = -1;
	r->gid = -1;
	r->mode = 0;
	r->path_len = r->path2_len = r->src_len = r->fstype_len = 0;
	r->kind = kind;
	r->fflags = 0;
	r->_pad0 = 0;
}

/* ---- open: at exit, from the file opened ---- */

enum open_variant {
	OPEN_AT,
	OPEN_PLAIN,
	OPEN_CREAT,
	OPEN_AT2,
};

/*
 * open_args reads the flags and mode the open was called with. f_flags
 * would not do: the kernel clears O_CREAT and O_TRUNC from it.
 */
static __always_inline void open_args(int variant, __u64 *flags, __u32 *mode)
{
	struct open_how how = {};

	switch (variant) {
	case OPEN_AT:
		*flags = (__u32)syscall_arg(2);
		*mode = (__u16)syscall_arg(3); /* umode_t */
		break;
	case OPEN_PLAIN:
		*flags = (__u32)syscall_arg(1);
		*mode = (__u16)syscall_arg(2);
		break;
	case OPEN_CREAT:
		*flags = O_CREAT | O_WRONLY | O_TRUNC;
		*mode = (__u16)syscall_arg(1);
		break;
	case OPEN_AT2:
		bpf_probe_read_user(&how, sizeof(how), (void *)syscall_arg(2));
		*flags = how.flags;
		*mode = how.mode;
		break;
	}
}

/*
 * open_exit is on the path of every successful open on the node, so it
 * tries the cheap tests first: the rules of the process, then the open's
 * flags (most opens are reads, and most rules are about writes), and only
 * then walks the file's path.
 */
static __always_inline int open_exit(long ret, int variant)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	bool all = policy_emit_all(PK_OPEN), trunc = false;
	struct file_bufs b;
	struct file_record *r;
	__u64 cand, flags = 0;
	__u32 mode = 0, start, len;
	__u8 sf = 0;
	struct file *f;

	if (ret < 0 || skip_self(pid_tgid) || !policy_wanted(PK_OPEN))
		return 0;
	cand = policy_kind_rules(PK_OPEN);
	if (cand)
		cand &= policy_proc_ok(pid_tgid >> 32, &sf);
	if (!cand && !all)
		return 0;
	open_args(variant, &flags, &mode);
	if (variant == OPEN_AT2) {
		/* open_how lies in the caller's memory, which another thread
		 * can rewrite before this exit runs; the access mode the file
		 * was opened with is in the file. (variant is a constant of
		 * each program: no branch remains in the others.) */
		struct file *of = fd_file(ret);

		if (of)
			flags = (flags & ~(__u64)O_ACCMODE) | (BPF_CORE_READ(of, f_flags) & O_ACCMODE);
	}
	cand = policy_params(cand, flags);
	if (!cand && !all)
		return 0;
	f = fd_file(ret);
	if (!f || !file_bufs(&b))
		return 0;

	struct path p = BPF_CORE_READ(f, f_path);

	start = resolve_path(&p, b.ps, &trunc);
	if (start >= PATH_BUF_LEN)
		return 0;
	len = PATH_BUF_LEN - start;
	if (cand & pol_path_any) {
		policy_set_key(&b.pk->key, &b.ps->buf[start & (PATH_BUF_LEN - 1)], len);
		cand &= policy_str_dim(&pol_path, &b.pk->key, pol_path_wild);
	}
	if (cand & pol_name_any) {
		struct qstr dn = BPF_CORE_READ(f, f_path.dentry, d_name);

		cand &= policy_name_dim(&b.pk->name, dn.name, dn.len);
	}
	if (!cand && !all)
		return 0;
	policy_enforce_decided(cand, &sf);

	r = &b.s->rec;
	fill_file_record(r, PK_OPEN, sf, cand);
	r->ret = ret;
	r->arg = flags;
	r->mode = mode;
	verifier_bound(len, 2 * PATH_BUF_LEN);
	bpf_probe_read_kernel(b.s->data, len, &b.ps->buf[start & (PATH_BUF_LEN - 1)]);
	r->path_len = len;
	if (trunc)
		r->fflags |= FILE_PATH_TRUNCATED;
	if (BPF_CORE_READ(f, f_mode) & FMODE_CREATED)
		r->fflags |= FILE_CREATED;
	emit(&b, len);
	return 0;
}

SEC("raw_tp")
int exit_openat(void *ctx) { return open_exit(EXIT_RET(ctx), OPEN_AT); }
SEC("raw_tp")
int exit_open(void *ctx) { return open_exit(EXIT_RET(ctx), OPEN_PLAIN); }
SEC("raw_tp")
int exit_creat(void *ctx) { return open_exit(EXIT_RET(ctx), OPEN_CREAT); }
SEC("raw_tp")
int exit_openat2(void *ctx) { return open_exit(EXIT_RET(ctx), OPEN_AT2); }

/* ---- the other calls: by lexical path ---- */

/* What one call acts on. A primary path comes from (dfd, path) or, when
 * path is NULL, from the open file fd. */
struct file_call {
	const char *path;
	const char *path2; /* rename: new name; link: existing file */
	const char *target; /* symlink: the link's contents */
	const char *src;    /* mount */
	const char *fstype; /* mount */
	__u64 arg;
	__s64 uid;
	__s64 gid;
	int dfd;
	int dfd2;
	int fd;
	__u32 mode;
	__u8 kind;
	__u8 fflags;
};

/* primary puts the call's primary path at data[0...]; returns its length. */
static __always_inline __u32 primary(struct file_call *c, struct file_bufs *b, __u32 *name_at, bool *trunc)
{
	struct file *f;

	if (c->path)
		return lexical_to(c->dfd, c->path, b, 0, name_at);
	f = fd_file(c->fd);
	if (!f)
		return 0;
	struct path p = BPF_CORE_READ(f, f_path);
	struct qstr dn = BPF_CORE_READ(f, f_path.dentry, d_name);
	__u32 len = walk_to(&p, b, 0, trunc);

	*name_at = len > dn.len ? len - dn.len : 0;
	return len;
}

/*
 * symlink_target puts the symlink's target at data[at...], made absolute
 * against the link's own directory (data[0, dir_len)) when relative, and
 * normalized; returns its length.
 */
static __always_inline __u32 symlink_target(const char *up, struct file_bufs *b, __u32 dir_len, __u32 at,
					    __u32 *name_at)
{
	struct lex_scratch *lx = b->lx;
	long n = lex_user(lx, up);
	__u32 in_len;

	if (n < 0)
		return 0;
	if (n > 0 && lx->user[0] == '/')
		return fold_to(b, user_abs(lx, n), at, name_at);
	in_len = lex_join(lx, b->s->data, dir_len, n);
	return in_len ? fold_to(b, in_len, at, name_at) : 0;
}

static __always_inline int file_call(struct file_call *c, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	bool all = policy_emit_all(c->kind), trunc = false;
	__u32 len, len2 = 0, name_at = 0, name2_at = 0, off;
	struct file_bufs b;
	struct file_record *r;
	__u8 sf = 0;
	__u64 cand;

	if (skip_self(pid_tgid) || !policy_wanted(c->kind))
		return 0;
	cand = policy_kind_rules(c->kind);
	if (cand)
		cand &= policy_proc_ok(pid_tgid >> 32, &sf);
	if (!cand && !all)
		return 0;
	if (!file_bufs(&b))
		return 0;
	b.lx->full_is_whole = ret != -ENAMETOOLONG;

	len = primary(c, &b, &name_at, &trunc);
	if (!len) {
		/* Unreadable, or too long to fold: userspace cannot check the
		 * path dimensions either, so the event is dropped unless it is
		 * wanted whole. */
		if (!all)
			return 0;
		sf |= SEC_INEXACT;
		cand = 0;
	}
	if (len && c->kind == PK_RENAME) {
		len2 = lexical_to(c->dfd2, c->path2, &b, len, &name2_at);
		/* Either name may be the one a rule is about. */
		cand = path_dims(cand, &b, 0, len, name_at) |
		       (len2 ? path_dims(cand, &b, len, len2, name2_at) : 0);
	} else if (len) {
		cand = path_dims(cand, &b, 0, len, name_at);
		if (c->kind == PK_LINK)
			len2 = lexical_to(c->dfd2, c->path2, &b, len, &name2_at);
		else if (c->kind == PK_SYMLINK)
			len2 = symlink_target(c->target, &b, name_at > 1 ? name_at - 1 : 1, len, &name2_at);
		if (cand & pol_target_any) {
			if (len2 && len2 <= PATH_BUF_LEN && len < PATH_BUF_LEN) {
				policy_set_key(&b.pk->key, &b.s->data[len & (PATH_BUF_LEN - 1)], len2);
				cand &= policy_str_dim(&pol_target, &b.pk->key, pol_target_wild);
			} else {
				cand &= pol_target_wild & ~pol_target_any;
			}
		}
	}
	cand = policy_params(cand, c->kind == PK_CHMOD ? c->mode : c->arg);
	if (!cand && !all)
		return 0;
	policy_enforce_decided(cand, &sf);

	r = &b.s->rec;
	fill_file_record(r, c->kind, sf, cand);
	r->ret = ret;
	r->arg = c->arg;
	r->uid = c->uid;
	r->gid = c->gid;
	r->mode = c->mode;
	r->fflags = c->fflags;
	if (trunc)
		r->fflags |= FILE_PATH_TRUNCATED;
	r->path_len = len;
	r->path2_len = len2;
	off = len + len2;
	if (c->kind == PK_MOUNT && off < 2 * PATH_BUF_LEN) {
		long n = bpf_probe_read_user_str(&b.s->data[off & (2 * PATH_BUF_LEN - 1)], SRC_LEN, c->src);

		if (n > 0) {
			r->src_len = n - 1;
			off += n - 1;
		}
		if (off < 2 * PATH_BUF_LEN + SRC_LEN) {
			n = bpf_probe_read_user_str(&b.s->data[off & (4 * PATH_BUF_LEN - 1)], FSTYPE_LEN, c->fstype);
			if (n > 0) {
				r->fstype_len = n - 1;
				off += n - 1;
			}
		}
	}
	emit(&b, off);
	return 0;
}

/* CALL fills a file_call: defaults first, then the call's own fields, which
 * override them on purpose. */
#pragma clang diagnostic ignored "-Winitializer-overrides"
#define CALL(...)                                                                               \
	({                                                                                      \
		struct file_call c = {.uid = -1, .gid = -1, .dfd = AT_FDCWD, .dfd2 = AT_FDCWD, .fd = -1, \
				      __VA_ARGS__};                                             \
		file_call(&c, EXIT_RET(ctx));                                                  \
	})
#define A(i) syscall_arg(i)
#define S(i) ((const char *)A(i))
/* umode_t: the kernel ignores the register's bits above 16, and so must
 * the rules' mode checks. */
#define MODE(i) ((__u16)A(i))

SEC("raw_tp")
int exit_unlink(void *ctx) { return CALL(.kind = PK_UNLINK, .path = S(0)); }
SEC("raw_tp")
int exit_unlinkat(void *ctx)
{
	return CALL(.kind = PK_UNLINK, .dfd = A(0), .path = S(1), .fflags = (A(2) & AT_REMOVEDIR) ? FILE_DIR : 0);
}
SEC("raw_tp")
int exit_rmdir(void *ctx) { return CALL(.kind = PK_UNLINK, .path = S(0), .fflags = FILE_DIR); }

SEC("raw_tp")
int exit_rename(void *ctx) { return CALL(.kind = PK_RENAME, .path = S(0), .path2 = S(1)); }
SEC("raw_tp")
int exit_renameat(void *ctx)
{
	return CALL(.kind = PK_RENAME, .dfd = A(0), .path = S(1), .dfd2 = A(2), .path2 = S(3));
}
SEC("raw_tp")
int exit_renameat2(void *ctx)
{
	return CALL(.kind = PK_RENAME, .dfd = A(0), .path = S(1), .dfd2 = A(2), .path2 = S(3), .arg = A(4));
}

/* link(old, new): the event's path is the new name, its target the old. */
SEC("raw_tp")
int exit_link(void *ctx) { return CALL(.kind = PK_LINK, .path = S(1), .path2 = S(0)); }
SEC("raw_tp")
int exit_linkat(void *ctx)
{
	return CALL(.kind = PK_LINK, .dfd = A(2), .path = S(3), .dfd2 = A(0), .path2 = S(1), .arg = A(4));
}

SEC("raw_tp")
int exit_symlink(void *ctx) { return CALL(.kind = PK_SYMLINK, .path = S(1), .target = S(0)); }
SEC("raw_tp")
int exit_symlinkat(void *ctx) { return CALL(.kind = PK_SYMLINK, .dfd = A(1), .path = S(2), .target = S(0)); }

SEC("raw_tp")
int exit_chmod(void *ctx) { return CALL(.kind = PK_CHMOD, .path = S(0), .mode = MODE(1)); }
SEC("raw_tp")
int exit_fchmod(void *ctx) { return CALL(.kind = PK_CHMOD, .fd = A(0), .mode = MODE(1)); }
SEC("raw_tp")
int exit_fchmodat(void *ctx) { return CALL(.kind = PK_CHMOD, .dfd = A(0), .path = S(1), .mode = MODE(2)); }
SEC("raw_tp")
int exit_fchmodat2(void *ctx)
{
	return CALL(.kind = PK_CHMOD, .dfd = A(0), .path = S(1), .mode = MODE(2), .arg = A(3));
}

/* uid_t and gid_t are 32 bits: (uid_t)-1 means "leave unchanged". */
#define ID(i) ((__s64)(__s32)A(i))

SEC("raw_tp")
int exit_chown(void *ctx) { return CALL(.kind = PK_CHOWN, .path = S(0), .uid = ID(1), .gid = ID(2)); }
SEC("raw_tp")
int exit_lchown(void *ctx) { return CALL(.kind = PK_CHOWN, .path = S(0), .uid = ID(1), .gid = ID(2)); }
SEC("raw_tp")
int exit_fchown(void *ctx) { return CALL(.kind = PK_CHOWN, .fd = A(0), .uid = ID(1), .gid = ID(2)); }
SEC("raw_tp")
int exit_fchownat(void *ctx)
{
	return CALL(.kind = PK_CHOWN, .dfd = A(0), .path = S(1), .uid = ID(2), .gid = ID(3), .arg = A(4));
}

SEC("raw_tp")
int exit_mount(void *ctx)
{
	return CALL(.kind = PK_MOUNT, .src = S(0), .path = S(1), .fstype = S(2), .arg = A(3));
}
