//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Network sensor: connect, accept, bind, listen, socket and sockets
 * duplicated onto stdin/stdout/stderr (dup), from syscall exits (syscall.h) at
 * exit (arguments from the saved registers, result known), filtered by the
 * rule policy in the kernel; and the deny action, from cgroup
 * connect/sendmsg hooks on the root cgroup, which refuse a matching
 * connection with EPERM before any packet leaves.
 */
#include "vigil.h"
#include "syscall.h"
#include "bpf_endian.h"
#include "policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000

enum net_flags {
	NET_LOCAL = 1 << 0, /* local is set */
	NET_PEER = 1 << 1,  /* peer is set */
};

struct net_record {
	struct record_header hdr; /* flags: enum sec_flags */
	__u64 rules;              /* rules matched in the kernel */
	__s64 ret;                /* the syscall's return value */
	struct endpoint local;
	struct endpoint peer;
	__u16 family;
	__u16 type; /* SOCK_STREAM, ... (without SOCK_NONBLOCK and SOCK_CLOEXEC) */
	__u16 protocol;
	__u8 kind; /* enum policy_kind */
	__u8 nflags;
	__s32 fd;     /* the socket; dup: the descriptor duplicated */
	__s32 new_fd; /* dup: the descriptor written over */
};

/* The process sensor's ring, at load: one ordered stream. */
SENSOR_OUTPUT_MAPS();

const struct net_record *_unused_net_record __attribute__((unused));
const enum net_flags *_unused_net_flags __attribute__((unused));

/* socket_of returns the socket behind fd of the current task, or NULL. */
static __always_inline struct socket *socket_of(long fd)
{
	struct file *f = fd_file(fd);

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(f, private_data);
}

/* sock_info fills the record's socket fields from the kernel socket;
 * with ends set, also its local and peer addresses (inet only). */
static __always_inline void sock_info(struct net_record *r, struct socket *sock, bool ends)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);

	if (!sk)
		return;
	r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	r->type = BPF_CORE_READ(sk, sk_type);
	r->protocol = BPF_CORE_READ(sk, sk_protocol);
	if (!ends)
		return;
	if (r->family == AF_INET) {
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 p = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(r->local.addr, &l, 4);
		__builtin_memcpy(r->peer.addr, &p, 4);
	} else if (r->family == AF_INET6) {
		BPF_CORE_READ_INTO(&r->local.addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&r->peer.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return;
	}
	r->local.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->peer.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	r->nflags |= NET_LOCAL;
	if (r->peer.port)
		r->nflags |= NET_PEER;
}

/* read_sockaddr reads an inet address given to connect or bind into e;
 * returns its family (0 when unreadable). */
static __always_inline __u16 read_sockaddr(const void *uaddr, __u32 len, struct endpoint *e)
{
	struct sockaddr_in6 sa = {};

	if (len > sizeof(sa))
		len = sizeof(sa);
	if (len < sizeof(__u16) || bpf_probe_read_user(&sa, len, uaddr) < 0)
		return 0;
	if (sa.sin6_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;

		__builtin_memcpy(e->addr, &in->sin_addr.s_addr, 4);
		e->port = bpf_ntohs(in->sin_port);
	} else if (sa.sin6_family == AF_INET6) {
		__builtin_memcpy(e->addr, sa.sin6_addr.in6_u.u6_addr8, 16);
		e->port = bpf_ntohs(sa.sin6_port);
	}
	return sa.sin6_family;
}

/* An IPv4 address mapped into IPv6 (::ffff:a.b.c.d) is an IPv4 destination. */
static __always_inline bool v4_mapped(const __u8 *a)
{
	__u64 lo;
	__u32 mid;

	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return lo == 0 && mid == bpf_htonl(0xffff);
}

/* dest_dims evaluates the destination dimensions (address, port). */
static __always_inline __u64 dest_dims(__u64 cand, __u16 family, const __u8 *addr, __u16 port)
{
	if (cand & pol_dest_any) {
		struct policy_masks *m = NULL;

		if (family == AF_INET6 && v4_mapped(addr)) {
			struct policy_v4_key k = {.prefixlen = 32};

			__builtin_memcpy(k.addr, addr + 12, 4);
			m = bpf_map_lookup_elem(&pol_v4, &k);
		} else if (family == AF_INET6) {
			struct policy_v6_key k = {.prefixlen = 128};

			__builtin_memcpy(k.addr, addr, 16);
			m = bpf_map_lookup_elem(&pol_v6, &k);
		} else if (family == AF_INET) {
			struct policy_v4_key k = {.prefixlen = 32};

			__builtin_memcpy(k.addr, addr, 4);
			m = bpf_map_lookup_elem(&pol_v4, &k);
		} else {
			/* No address (AF_UNIX, ...): destination patterns do not match. */
			return cand & pol_dest_wild & ~pol_dest_any;
		}
		cand &= policy_dim(m, pol_dest_wild);
	}
	if (cand & pol_port_any) {
		if (family != AF_INET && family != AF_INET6)
			return cand & pol_port_wild & ~pol_port_any;
		cand &= policy_dim(bpf_map_lookup_elem(&pol_port, &port), pol_port_wild);
	}
	return cand;
}

PERCPU_SLOT(net_scratch, struct net_record);

static __always_inline struct net_record *new_record(__u8 kind, __u8 sflags, __u64 rules)
{
	__u32 zero = 0;
	struct net_record *r = bpf_map_lookup_elem(&net_scratch, &zero);

	if (!r)
		return NULL;
	__builtin_memset(r, 0, sizeof(*r));
	fill_header(&r->hdr, RECORD_NET, (struct task_struct *)bpf_get_current_task());
	r->hdr.flags = sflags;
	r->rules = rules;
	r->kind = kind;
	r->fd = -1;
	r->new_fd = -1;
	return r;
}

static __always_inline void emit(struct net_record *r)
{
	if (bpf_ringbuf_output(&events, r, sizeof(*r), wakeup_flags_output(&events, sizeof(*r))) < 0)
		count_lost(&lost);
}

/* candidates is the first, cheap step of every hook: the rules of kind k
 * the current process can match. */
static __always_inline __u64 candidates(__u8 k, __u64 pid_tgid, __u8 *sf)
{
	__u64 cand = policy_kind_rules(k);

	if (cand)
		cand &= policy_proc_ok(pid_tgid >> 32, sf);
	return cand;
}

/* ---- connect and bind: from the address given ---- */

static __always_inline int addr_call(__u8 kind, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	bool all = policy_emit_all(kind);
	struct endpoint e = {};
	struct net_record *r;
	struct socket *sock;
	__u16 family;
	__u8 sf = 0;
	__u64 cand;

	if (skip_self(pid_tgid) || !policy_wanted(kind))
		return 0;
	cand = candidates(kind, pid_tgid, &sf);
	/* Deny rules are decided, and reported, by the cgroup hooks; those
	 * the kernel could not decide for this process are left to userspace
	 * like any other (the hook let the connect through), and so are all
	 * of an exempt process's (the hook let it through too). */
	if (kind == PK_CONNECT && (cand & pol_deny) && !enforce_exempt())
		cand &= ~pol_deny | policy_undecided(sf);
	if (!cand && !all)
		return 0;
	long fd = syscall_arg(0);

	family = read_sockaddr((const void *)syscall_arg(1), syscall_arg(2), &e);
	if (kind == PK_CONNECT)
		cand = dest_dims(cand, family, e.addr, e.port);
	if (!cand && !all)
		return 0;
	policy_enforce_decided(cand, &sf);
	r = new_record(kind, sf, cand);
	if (!r)
		return 0;
	r->ret = ret;
	r->fd = fd;
	sock = socket_of(fd);
	if (sock)
		sock_info(r, sock, false);
	if (family)
		r->family = family;
	if (kind == PK_CONNECT) {
		r->peer = e;
		r->nflags = family == AF_INET || family == AF_INET6 ? NET_PEER : 0;
	} else {
		r->local = e;
		r->nflags = family == AF_INET || family == AF_INET6 ? NET_LOCAL : 0;
	}
	emit(r);
	return 0;
}

/* A connect that blocks is reported when it returns (the deny hooks act at
 * once). */
SEC("raw_tp")
int exit_connect(void *ctx) { return addr_call(PK_CONNECT, EXIT_RET(ctx)); }
SEC("raw_tp")
int exit_bind(void *ctx) { return addr_call(PK_BIND, EXIT_RET(ctx)); }

/* ---- listen: from the socket ---- */

SEC("raw_tp")
int exit_listen(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	long fd;
	struct net_record *r;
	struct socket *sock;
	__u8 sf = 0;
	__u64 cand;

	if (skip_self(pid_tgid) || !policy_wanted(PK_LISTEN))
		return 0;
	cand = candidates(PK_LISTEN, pid_tgid, &sf);
	if (!cand && !policy_emit_all(PK_LISTEN))
		return 0;
	policy_enforce_decided(cand, &sf);
	r = new_record(PK_LISTEN, sf, cand);
	if (!r)
		return 0;
	fd = syscall_arg(0);
	r->ret = EXIT_RET(ctx);
	r->fd = fd;
	sock = socket_of(fd);
	if (sock) {
		sock_info(r, sock, true);
		r->nflags &= ~NET_PEER;
	}
	emit(r);
	return 0;
}

/* ---- accept and socket: at exit, from the new descriptor ---- */

static __always_inline int accept_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct net_record *r;
	struct socket *sock;
	__u8 sf = 0;
	__u64 cand;

	if (ret < 0 || skip_self(pid_tgid) || !policy_wanted(PK_ACCEPT))
		return 0;
	cand = candidates(PK_ACCEPT, pid_tgid, &sf);
	if (!cand && !policy_emit_all(PK_ACCEPT))
		return 0;
	sock = socket_of(ret);
	if (!sock)
		return 0;
	policy_enforce_decided(cand, &sf);
	r = new_record(PK_ACCEPT, sf, cand);
	if (!r)
		return 0;
	r->ret = ret;
	r->fd = ret;
	sock_info(r, sock, true);
	emit(r);
	return 0;
}

SEC("raw_tp")
int exit_accept(void *ctx) { return accept_exit(EXIT_RET(ctx)); }
SEC("raw_tp")
int exit_accept4(void *ctx) { return accept_exit(EXIT_RET(ctx)); }

/* socket(2): the parameter check sees family | type << 16. */
SEC("raw_tp")
int exit_socket(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	long ret = EXIT_RET(ctx);
	struct net_record *r;
	__u16 family, type, protocol;
	__u8 sf = 0;
	__u64 cand;

	if (ret < 0 || skip_self(pid_tgid) || !policy_wanted(PK_SOCKET))
		return 0;
	cand = candidates(PK_SOCKET, pid_tgid, &sf);
	if (!cand && !policy_emit_all(PK_SOCKET))
		return 0;
	family = syscall_arg(0);
	type = syscall_arg(1) & 0xf;
	protocol = syscall_arg(2);
	cand = policy_params(cand, (__u64)family | (__u64)type << 16);
	if (!cand && !policy_emit_all(PK_SOCKET))
		return 0;
	policy_enforce_decided(cand, &sf);
	r = new_record(PK_SOCKET, sf, cand);
	if (!r)
		return 0;
	r->ret = ret;
	r->fd = ret;
	r->family = family;
	r->type = type;
	r->protocol = protocol;
	emit(r);
	return 0;
}

/* ---- dup: a network socket becoming stdin, stdout or stderr ---- */

/*
 * The shape of a reverse shell: a shell whose standard streams are a TCP
 * connection. Only inet sockets written over descriptors 0-2 are events;
 * every other dup leaves after a comparison.
 */
static __always_inline int dup_event(long ret)
{
	long oldfd, newfd = ret; /* dup2, dup3 and dup return the new descriptor */
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct net_record *r;
	struct socket *sock;
	struct sock *sk;
	__u16 family;
	__u8 sf = 0;
	__u64 cand;

	if (ret < 0 || newfd > 2 || skip_self(pid_tgid) || !policy_wanted(PK_DUP))
		return 0;
	oldfd = syscall_arg(0);
	sock = socket_of(oldfd);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	family = sk ? BPF_CORE_READ(sk, __sk_common.skc_family) : 0;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	cand = candidates(PK_DUP, pid_tgid, &sf);
	if (!cand && !policy_emit_all(PK_DUP))
		return 0;
	policy_enforce_decided(cand, &sf);
	r = new_record(PK_DUP, sf, cand);
	if (!r)
		return 0;
	r->ret = ret;
	r->fd = oldfd;
	r->new_fd = newfd;
	sock_info(r, sock, true);
	emit(r);
	return 0;
}

/* The new descriptor is the return value, the old one the first argument;
 * dup(2) takes the lowest free descriptor: after close(0), dup(sock) is
 * stdin. A successful dup leaves both pointing at the socket. */
SEC("raw_tp")
int exit_dup2(void *ctx) { return dup_event(EXIT_RET(ctx)); }
SEC("raw_tp")
int exit_dup3(void *ctx) { return dup_event(EXIT_RET(ctx)); }
SEC("raw_tp")
int exit_dup(void *ctx) { return dup_event(EXIT_RET(ctx)); }

/* ---- deny: cgroup hooks, before the connection is made ---- */

/*
 * deny decides a connect (or an unconnected UDP send) against the deny
 * rules. These hooks run in every process of the cgroup tree, so what no
 * deny rule can want leaves at the first test. A denied call fails with
 * EPERM, and is reported as a connect event with SEC_DENIED. A process no
 * rule may deny (enforce_exempt) is let through: its connect is reported at
 * the syscall's exit, with its result; its send here, with result 0, as no
 * exit of a send is hooked.
 */
static __always_inline int deny(struct bpf_sock_addr *ctx, __u16 family, const __u8 *addr, bool send)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u16 port = bpf_ntohs(ctx->user_port);
	struct net_record *r;
	__u8 sf = SEC_DENIED;
	__u64 cand;

	if (!pol_deny || skip_self(pid_tgid))
		return 1;
	cand = policy_kind_rules(PK_CONNECT) & pol_deny;
	if (!cand)
		return 1;
	/* Refuse only on what the kernel decided; the rest is userspace's to
	 * report, from the connect's exit. */
	cand &= policy_proc_ok(pid_tgid >> 32, &sf);
	cand &= ~policy_undecided(sf);
	cand = dest_dims(cand, family, addr, port);
	if (!cand)
		return 1;
	if (enforce_exempt()) {
		if (!send)
			return 1;
		sf &= ~SEC_DENIED;
	}
	r = new_record(PK_CONNECT, sf, cand);
	if (r) {
		r->ret = sf & SEC_DENIED ? -1 : 0; /* EPERM */
		r->family = family;
		r->type = ctx->type;
		r->protocol = ctx->protocol;
		__builtin_memcpy(r->peer.addr, addr, family == AF_INET ? 4 : 16);
		r->peer.port = port;
		r->nflags = NET_PEER;
		emit(r);
	}
	return !(sf & SEC_DENIED);
}

static __always_inline int deny4(struct bpf_sock_addr *ctx, bool send)
{
	__u32 ip = ctx->user_ip4;

	return deny(ctx, AF_INET, (const __u8 *)&ip, send);
}

static __always_inline int deny6(struct bpf_sock_addr *ctx, bool send)
{
	__u32 ip[4];

	ip[0] = ctx->user_ip6[0];
	ip[1] = ctx->user_ip6[1];
	ip[2] = ctx->user_ip6[2];
	ip[3] = ctx->user_ip6[3];
	return deny(ctx, AF_INET6, (const __u8 *)ip, send);
}

SEC("cgroup/connect4")
int deny_connect4(struct bpf_sock_addr *ctx) { return deny4(ctx, false); }
SEC("cgroup/connect6")
int deny_connect6(struct bpf_sock_addr *ctx) { return deny6(ctx, false); }
SEC("cgroup/sendmsg4")
int deny_sendmsg4(struct bpf_sock_addr *ctx) { return deny4(ctx, true); }
SEC("cgroup/sendmsg6")
int deny_sendmsg6(struct bpf_sock_addr *ctx) { return deny6(ctx, true); }
