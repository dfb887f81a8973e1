/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Lexical paths: the absolute, normalized form of a path a syscall was
 * given, for the calls whose file vigil cannot look at afterwards (unlink,
 * rename, link, symlink, chmod, chown, mount by name). Relative paths are
 * joined to the directory they are relative to (the cwd or a dirfd, whose
 * real paths come from the dentry walk), then ".", ".." and repeated
 * slashes are folded, so that `rm /etc/../etc/./shadow` is matched as
 * /etc/shadow. Symlinks inside the given path are not resolved: nothing in
 * a tracepoint can look them up.
 */
#ifndef VIGIL_FILE_LEXICAL_H
#define VIGIL_FILE_LEXICAL_H

#include "vigil.h"
#include "path.h"

#define AT_FDCWD -100
#define LEX_IN_LEN (2 * PATH_BUF_LEN) /* base + '/' + user path, before folding */
#define LEX_DEPTH 256                 /* components remembered for ".." */

struct lex_scratch {
	char user[PATH_BUF_LEN];
	char in[LEX_IN_LEN + PATH_BUF_LEN]; /* slack: a masked offset plus a copy fits */
	char out[PATH_BUF_LEN];
	__u16 stack[LEX_DEPTH]; /* out offset of the '/' before each kept component */
	/* Set per call: a user string that fills user[] is whole, because the
	 * call did not fail with ENAMETOOLONG (see lex_user). */
	__u8 full_is_whole;
};

struct lex_ctx {
	struct lex_scratch *s;
	__u32 in_len;
	__u32 out_len;
	__u32 cs; /* where the current component starts in out */
	__u32 depth;
	__u8 overflow;
};

/*
 * lex_step folds byte i of s->in into s->out; past the end it acts as one
 * more '/', which closes the last component. in[0] is '/' and already in out.
 */
static int lex_step(__u64 i, struct lex_ctx *c)
{
	struct lex_scratch *s = c->s;
	__u32 len;
	char ch;

	if (i == 0)
		return 0;
	ch = i < c->in_len ? s->in[i & (LEX_IN_LEN - 1)] : '/';
	if (ch != '/') {
		if (c->out_len >= PATH_BUF_LEN - 1) {
			c->overflow = 1;
			return 1;
		}
		s->out[c->out_len & (PATH_BUF_LEN - 1)] = ch;
		c->out_len++;
		return 0;
	}
	/* The component out[cs, out_len) ends. */
	len = c->out_len - c->cs;
	if (len == 0 || (len == 1 && s->out[c->cs & (PATH_BUF_LEN - 1)] == '.')) {
		c->out_len = c->cs - 1; /* "//" or "/.": drop */
	} else if (len == 2 && s->out[c->cs & (PATH_BUF_LEN - 1)] == '.' &&
		   s->out[(c->cs + 1) & (PATH_BUF_LEN - 1)] == '.') {
		/* "/..": drop it and the component before, if any */
		if (c->depth > 0) {
			c->depth--;
			c->out_len = s->stack[c->depth & (LEX_DEPTH - 1)];
		} else {
			c->out_len = 0;
		}
	} else {
		if (c->depth >= LEX_DEPTH) {
			c->overflow = 1;
			return 1;
		}
		s->stack[c->depth & (LEX_DEPTH - 1)] = c->cs - 1;
		c->depth++;
	}
	if (i < c->in_len) {
		s->out[c->out_len & (PATH_BUF_LEN - 1)] = '/';
		c->out_len++;
		c->cs = c->out_len;
	}
	return 0;
}

/*
 * lex_fold normalizes s->in[0, in_len), which starts with '/', into s->out.
 * It returns the length of the result; *name_at is where its last
 * component starts. On overflow (deeper than LEX_DEPTH, or a result longer
 * than a path buffer) it returns 0.
 */
static __always_inline __u32 lex_fold(struct lex_scratch *s, __u32 in_len, __u32 *name_at)
{
	struct lex_ctx c = {.s = s, .in_len = in_len, .out_len = 1, .cs = 1};

	s->out[0] = '/';
	bpf_loop(in_len + 1, lex_step, &c, 0);
	if (c.overflow)
		return 0;
	*name_at = c.depth > 0 ? s->stack[(c.depth - 1) & (LEX_DEPTH - 1)] + 1 : 1;
	if (c.out_len == 0) {
		s->out[0] = '/';
		return 1;
	}
	return c.out_len;
}

/*
 * lex_join puts base[0, base_len) (kernel memory, absolute), a '/' and
 * s->user[0, user_len) into s->in; returns the joined length, or 0 when it
 * does not fit.
 */
static __always_inline __u32 lex_join(struct lex_scratch *s, const char *base, __u32 base_len,
				      __u32 user_len)
{
	if (base_len >= PATH_BUF_LEN || user_len >= PATH_BUF_LEN)
		return 0;
	verifier_bound(base_len, PATH_BUF_LEN);
	bpf_probe_read_kernel(s->in, base_len, base);
	s->in[base_len & (LEX_IN_LEN - 1)] = '/';
	verifier_bound(user_len, PATH_BUF_LEN);
	bpf_probe_read_kernel(&s->in[(base_len + 1) & (LEX_IN_LEN - 1)], user_len, s->user);
	return base_len + 1 + user_len;
}

/*
 * lex_user copies the user string at up into s->user; returns its length
 * without the NUL, or -1 when it cannot be read or is too long. A string
 * that fills the buffer is 4 095 bytes or longer, and the read cannot tell
 * which; but the kernel refuses longer ones with ENAMETOOLONG, so when the
 * call did not fail so, it is exactly the longest path the kernel takes,
 * and whole (an attacker's padding of "////..." to that length must not
 * hide the path from the rules).
 */
static __always_inline long lex_user(struct lex_scratch *s, const char *up)
{
	long n = bpf_probe_read_user_str(s->user, PATH_BUF_LEN, up);

	if (n <= 0 || n > PATH_BUF_LEN || (n == PATH_BUF_LEN && !s->full_is_whole))
		return -1;
	return n - 1;
}

#endif /* VIGIL_FILE_LEXICAL_H */
