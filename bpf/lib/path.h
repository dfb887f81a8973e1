/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Resolving a struct path to a string without bpf_d_path, which only
 * fentry/LSM programs may call and which this kernel class does not allow.
 * We walk dentries towards the root, crossing mount points the way the
 * kernel's prepend_path() does, and write names right to left.
 */
#ifndef VIGIL_LIB_PATH_H
#define VIGIL_LIB_PATH_H

#include "vigil.h"

#define PATH_BUF_LEN 4096 /* bytes available for one resolved path */
#define NAME_LEN 256      /* a dentry name is at most 255 bytes */
/* Deeper paths are cut at the root side and flagged as truncated. */
#define PATH_MAX_DEPTH 48

struct path_scratch {
	/* The path is assembled in buf[off, PATH_BUF_LEN); the extra NAME_LEN
	 * lets the verifier see that a masked offset plus a name fits. */
	char buf[PATH_BUF_LEN + NAME_LEN];
	/* The write offset lives in map memory on purpose: the verifier does
	 * not track its value there, so every loop iteration looks alike and
	 * state pruning keeps verification linear in PATH_MAX_DEPTH. Kept in
	 * a register, each iteration's distinct range is a new state and the
	 * walk blows the 1M instruction budget. */
	__u32 off;
};

/* The per-CPU scratch a sensor walks paths in. */
#define PATH_SCRATCH_MAP(name)                          \
	PERCPU_SLOT(name, struct path_scratch)

/*
 * resolve_path writes the absolute path of p into s->buf, ending at
 * PATH_BUF_LEN, and returns its start offset. *truncated is set when the
 * depth or length limit cut the path short.
 */
static __noinline __u32 resolve_path(const struct path *p, struct path_scratch *s,
				     bool *truncated)
{
	struct dentry *dentry = BPF_CORE_READ(p, dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(p, mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	bool done = false;
	__u32 off;
	int i;

	*truncated = false;
	s->off = PATH_BUF_LEN;
	if (!dentry || !vfsmnt)
		return PATH_BUF_LEN;

	/* Read once per mount crossed, not once per component. */
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);

	for (i = 0; i < PATH_MAX_DEPTH; i++) {
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

		if (dentry == mnt_root) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

			if (mnt == mnt_parent) {
				done = true; /* root of this mount namespace */
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = __builtin_preserve_access_index(&mnt->mnt);
			mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
			continue;
		}

		struct qstr name = BPF_CORE_READ(dentry, d_name);
		__u32 len = name.len & (NAME_LEN - 1);

		off = s->off;
		if (len + 1 > off || off > PATH_BUF_LEN) {
			*truncated = true;
			done = true;
			break;
		}
		off -= len;
		bpf_probe_read_kernel(&s->buf[off & (PATH_BUF_LEN - 1)], len, name.name);
		off -= 1;
		s->buf[off & (PATH_BUF_LEN - 1)] = '/';
		s->off = off;

		/* A dentry that is its own parent but not a mount root belongs to
		 * a pseudo filesystem (memfd, pipe, anon inode): its name is all
		 * there is. */
		if (dentry == parent) {
			done = true;
			break;
		}
		dentry = parent;
	}
	if (!done)
		*truncated = true;
	off = s->off;
	if (off >= PATH_BUF_LEN) {
		off = PATH_BUF_LEN - 1;
		s->buf[off] = '/';
	}
	return off;
}

#endif /* VIGIL_LIB_PATH_H */
