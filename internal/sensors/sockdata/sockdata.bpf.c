//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket data sensor: the bytes TCP connections carry, for userspace
 * protocol parsers (HTTP/1.x today), from syscall exits only (syscall.h:
 * these programs are the dispatcher's observe stage).
 *
 * Connections are tracked per {tgid, fd} from accept (server side) and
 * connect (client side). Every read- or write-like syscall is seen once,
 * at its exit, with its arguments read from the saved user registers
 * (syscall_arg): a failed or empty call leaves at once, and any other
 * looks its fd up once; untracked fds leave after that single map miss.
 * The first bytes of a connection classify it: an HTTP request start (or
 * the beginning of one, request_start) keeps it, anything else (TLS,
 * databases, binary protocols) stops all further capture for it.
 */
#include "vigil.h"
#include "syscall.h"
#include "bpf_endian.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The dispatcher's secure stage, replaced at load by its array: every
 * program here ends by running the secure program of its syscall. */
SYSCALL_STAGE_MAP(sys_exit_secure);

/*
 * Selection, decided once per connection at accept/connect. Userspace
 * resolves executable, pid, cgroup and container selectors to process ids
 * and keeps these maps current. With select_only set, a connection is
 * tracked only when its process or port is selected; excluded processes
 * and ports are never tracked.
 */
volatile const __u8 select_only = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);  /* tgid */
	__type(value, __u8); /* SEL_* bits */
} sel_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);  /* port: local for servers, peer for clients */
	__type(value, __u8); /* SEL_* bits */
} sel_ports SEC(".maps");

enum sel_bits {
	SEL_SELECT = 1 << 0,
	SEL_EXCLUDE = 1 << 1,
};

#define CAPTURE_LEN 4096 /* bytes of one syscall sent to userspace, at most */
#define MAX_IOVS 8       /* iovec entries looked at per vectored syscall */

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EBADF 9
#define EINPROGRESS 115

enum side {
	SIDE_SERVER = 1, /* accepted: the process serves requests */
	SIDE_CLIENT = 2, /* connected: the process makes requests */
};

enum direction {
	DIR_INGRESS = 1, /* the process read the bytes */
	DIR_EGRESS = 2,  /* the process wrote the bytes */
};

enum conn_proto {
	PROTO_UNKNOWN = 0, /* no byte seen yet */
	PROTO_HTTP1 = 1,
	PROTO_OTHER = 2, /* not ours: no more capture */
};

enum data_flags {
	DATA_SENDFILE = 1 << 0, /* body bytes from a file: Size counts, no data */
};

struct conn_key {
	__u32 tgid;
	__u32 fd;
};

struct conn {
	__u64 id;
	/* Identity of the socket: the struct sock and the struct file that the
	 * fd held when tracking began (0 for connections seeded from /proc,
	 * until their first data syscall). Checked on every data syscall, see
	 * same_socket. */
	__u64 sk;
	__u64 file;
	__u64 pos[2]; /* bytes carried so far: [0] ingress, [1] egress */
	struct endpoint local;
	struct endpoint peer;
	__u16 family;
	__u8 side;
	__u8 proto;
	/* Connections seeded from /proc may be mid-message when first seen:
	 * this many syscalls that do not start a request are passed over
	 * before the connection is given up as not HTTP. */
	__u8 hunt;
	__u8 _pad0[3];
};

struct conn_open_record {
	__u8 type;
	__u8 side;
	__u16 family;
	__u32 pid;
	__u32 tid;
	__u32 fd;
	__u64 id;
	__u64 ktime_ns;
	struct endpoint local;
	struct endpoint peer;
};

struct data_record {
	__u8 type;
	__u8 direction;
	__u8 flags;
	__u8 _pad0;
	__u32 pid;
	__u32 tid;
	__u32 size;     /* bytes the syscall moved */
	__u64 id;
	__u64 pos;      /* stream position of the first byte */
	__u64 enter_ns; /* CLOCK_BOOTTIME; the syscall's exit (its entry is not
			 * hooked: a data syscall takes microseconds) */
	__u64 exit_ns;
	__u32 captured; /* bytes of data[] that follow: min(size, CAPTURE_LEN) */
	__u32 _pad1;
};

struct conn_close_record {
	__u8 type;
	__u8 _pad0[3];
	__u32 pid;
	__u64 id;
	__u64 ktime_ns;
	__u64 pos[2];
};

struct data_scratch {
	struct data_record rec;
	/* An iovec lands at an offset below CAPTURE_LEN with a length the
	 * verifier knows only as below 2 * CAPTURE_LEN (verifier_bound): the
	 * buffer is sized for the sum. Only CAPTURE_LEN bytes are ever used. */
	char data[3 * CAPTURE_LEN];
};

enum call_kind {
	CALL_BUF = 1,    /* read, write, recvfrom, sendto: (fd, buf, len) */
	CALL_IOV = 2,    /* readv, writev: (fd, iov, iovcnt) */
	CALL_MSG = 3,    /* recvmsg, sendmsg: (fd, user_msghdr) */
	CALL_SENDFILE = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized by userspace */
	__type(key, struct conn_key);
	__type(value, struct conn);
} conns SEC(".maps");

PERCPU_SLOT(scratch, struct data_scratch);

SENSOR_OUTPUT_MAPS();

/* Connections classified, by enum conn_proto: [PROTO_HTTP1], [PROTO_OTHER]. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} classified SEC(".maps");

static __always_inline void count_classified(__u32 proto)
{
	__u64 *n = bpf_map_lookup_elem(&classified, &proto);

	if (n)
		*n += 1;
}

/* Connection ids: unique while vigil runs. */
__u64 next_conn_id = 0;

const struct conn_open_record *_unused_open __attribute__((unused));
const struct data_record *_unused_data __attribute__((unused));
const struct conn_close_record *_unused_close __attribute__((unused));
const enum side *_unused_side __attribute__((unused));
const enum direction *_unused_dir __attribute__((unused));
const enum data_flags *_unused_flags __attribute__((unused));
const struct conn_key *_unused_key __attribute__((unused));
const struct conn *_unused_conn __attribute__((unused));
const enum sel_bits *_unused_sel __attribute__((unused));

/* tcp_sock_in returns the TCP socket that open file f is, or NULL. */
static __always_inline struct sock *tcp_sock_in(struct file *f)
{
	struct socket *sock;
	struct sock *sk;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP ||
	    BPF_CORE_READ(sk, sk_type) != SOCK_STREAM)
		return NULL;
	return sk;
}

/* tcp_sock_of returns the TCP socket behind fd of the current task, or NULL. */
static __always_inline struct sock *tcp_sock_of(__u32 fd)
{
	return tcp_sock_in(fd_file(fd));
}

/*
 * same_socket reports whether fd still holds connection c's socket.
 *
 * close(2) and dup2/dup3 end a connection where they happen, but an fd
 * can lose its socket without any of them: close_range(2), exec closing
 * O_CLOEXEC fds, a process exiting and its pid being reused, io_uring.
 * Without this check, whatever the fd number holds next (a log file, a
 * secret) would be captured as the connection's data. The file pointer
 * alone would not do: the slab hands a freed struct file to the next
 * open, so the socket behind it is compared too. A seeded connection
 * takes the identity of the TCP socket it first sees.
 */
static __always_inline bool same_socket(struct conn *c, __u32 fd)
{
	struct file *f = fd_file(fd);
	struct socket *sock;

	if (!f)
		return false;
	if (!c->sk) {
		struct sock *sk = tcp_sock_in(f);

		if (!sk)
			return false;
		c->sk = (__u64)sk;
		c->file = (__u64)f;
		return true;
	}
	if ((__u64)f != c->file)
		return false;
	sock = BPF_CORE_READ(f, private_data);
	return (__u64)BPF_CORE_READ(sock, sk) == c->sk;
}

static __always_inline bool fill_endpoints(struct conn *c, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	c->family = family;
	c->local.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->peer.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 p = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(c->local.addr, &l, 4);
		__builtin_memcpy(c->peer.addr, &p, 4);
		return true;
	}
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&c->local.addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&c->peer.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		return true;
	}
	return false;
}

/* wanted applies the selection to a new connection. */
static __always_inline bool wanted(__u32 tgid, __u16 port)
{
	__u8 *p = bpf_map_lookup_elem(&sel_procs, &tgid);
	__u8 *q = bpf_map_lookup_elem(&sel_ports, &port);
	__u8 bits = (p ? *p : 0) | (q ? *q : 0);

	if (bits & SEL_EXCLUDE)
		return false;
	return !select_only || (bits & SEL_SELECT);
}

/* track starts following fd as a new connection of the given side. */
/* close_conn ends connection c at key: userspace learns how far each
 * direction got (HTTP connections only; it never heard of the others). */
static __always_inline void close_conn(struct conn_key *key, struct conn *c)
{
	struct conn_close_record *r;

	if (c->proto == PROTO_HTTP1) {
		r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
		if (r) {
			r->type = RECORD_CONN_CLOSE;
			r->_pad0[0] = r->_pad0[1] = r->_pad0[2] = 0;
			r->pid = key->tgid;
			r->id = c->id;
			r->ktime_ns = bpf_ktime_get_boot_ns();
			r->pos[0] = c->pos[0];
			r->pos[1] = c->pos[1];
			bpf_ringbuf_submit(r, wakeup_flags_submit(&events, sizeof(*r)));
		} else {
			count_lost(&lost);
		}
	}
	bpf_map_delete_elem(&conns, key);
}

static __always_inline void track(__u64 pid_tgid, __u32 fd, __u8 side)
{
	struct conn_key key = {.tgid = pid_tgid >> 32, .fd = fd};
	struct conn c = {};
	struct file *f = fd_file(fd);
	struct sock *sk = tcp_sock_in(f);
	struct conn *old;

	if (!sk || !fill_endpoints(&c, sk))
		return;
	old = bpf_map_lookup_elem(&conns, &key);
	if (old) {
		/* The same socket again (a second connect after EINPROGRESS
		 * returns 0): keep its stream positions. */
		if (old->sk == (__u64)sk)
			return;
		/* The fd was closed and reused before close's exit ran. */
		close_conn(&key, old);
	}
	if (!wanted(key.tgid, side == SIDE_SERVER ? c.local.port : c.peer.port))
		return;
	c.id = __sync_fetch_and_add(&next_conn_id, 1) + 1;
	c.sk = (__u64)sk;
	c.file = (__u64)f;
	c.side = side;
	c.proto = PROTO_UNKNOWN;
	bpf_map_update_elem(&conns, &key, &c, BPF_ANY);
}

static __always_inline void emit_open(struct conn *c, __u64 pid_tgid, __u32 fd, __u64 now)
{
	struct conn_open_record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		count_lost(&lost);
		return;
	}
	r->type = RECORD_CONN_OPEN;
	r->side = c->side;
	r->family = c->family;
	r->pid = pid_tgid >> 32;
	r->tid = (__u32)pid_tgid;
	r->fd = fd;
	r->id = c->id;
	r->ktime_ns = now;
	r->local = c->local;
	r->peer = c->peer;
	bpf_ringbuf_submit(r, wakeup_flags_submit(&events, sizeof(*r)));
}

enum start_match {
	START_NO,
	START_MAYBE, /* all a request line could begin with, so far */
	START_YES,
};

#define MAX_METHOD 20 /* letters of a method; WebDAV's longest is 16 */
#define MAX_EMPTY 4   /* CR and LF bytes before a request, ignored by servers */

static __always_inline bool is_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/*
 * request_start classifies the first bytes of the request direction of a
 * connection (d, n of them) by what servers accept, not by a list of
 * methods: empty lines (CR, LF) first, then a method of letters (any case,
 * '-' and '_' after the first: PROPFIND, get), a space, and a target: '/',
 * '*' or an absolute URI ("http..."). A first write shorter than that (a
 * client that sends "GET /" and then the rest, or a byte at a time) is
 * START_MAYBE when every byte fits: such a connection is captured, and
 * userspace, which sees the bytes accumulate, decides. Binary protocols
 * (TLS, databases) fail at their first byte; text ones (SMTP, Redis) at the
 * first byte after their command, which is no space followed by a target.
 */
static __always_inline int request_start(const char *d, __u32 n)
{
	__u32 i = 0, m = 0;

	if (n == 0)
		return START_NO; /* nothing captured: nothing to go by */
	if (n > CAPTURE_LEN)
		n = CAPTURE_LEN;
	for (; i < MAX_EMPTY && i < n; i++) {
		if (d[i] != '\r' && d[i] != '\n')
			break;
	}
	for (m = 0; m <= MAX_METHOD; m++, i++) {
		char c;

		if (i >= n)
			return START_MAYBE;
		c = d[i & (CAPTURE_LEN - 1)];
		if (c == ' ')
			break;
		if (!is_letter(c) && !(m > 0 && (c == '-' || c == '_')))
			return START_NO;
	}
	if (m == 0 || m > MAX_METHOD)
		return START_NO;
	i++; /* the space */
	if (i >= n)
		return START_MAYBE;
	switch (d[i & (CAPTURE_LEN - 1)]) {
	case '/':
	case '*':
		return START_YES;
	case 'h':
	case 'H':
		/* An absolute URI: "http://" or "https://". */
		for (m = 1; m < 4; m++) {
			char c;

			if (i + m >= n)
				return START_MAYBE;
			c = d[(i + m) & (CAPTURE_LEN - 1)] | 0x20;
			if (c != "http"[m])
				return START_NO;
		}
		return START_YES;
	}
	return START_NO;
}

/*
 * copy_iovs copies up to CAPTURE_LEN of the first total bytes described by
 * an iovec array in user memory into data; returns the bytes copied.
 */
static __always_inline __u32 copy_iovs(char *data, const struct iovec *iov, __u32 cnt, __u32 total)
{
	__u32 off = 0;
	int i;

	for (i = 0; i < MAX_IOVS; i++) {
		struct iovec v;
		__u32 n;

		if (i >= cnt || off >= total || off >= CAPTURE_LEN)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]) < 0)
			break;
		n = v.iov_len;
		if (n > total - off)
			n = total - off;
		if (n > CAPTURE_LEN - off)
			n = CAPTURE_LEN - off;
		if (off >= CAPTURE_LEN)
			break;
		verifier_bound(n, 2 * CAPTURE_LEN);
		verifier_bound(off, CAPTURE_LEN);
		if (bpf_probe_read_user(&data[off], n, v.iov_base) < 0)
			break;
		off += n;
	}
	return off;
}

/* on_exit captures a data syscall that moved ret bytes on a tracked
 * connection still worth capturing. */
static __always_inline int on_exit(long ret, __u8 kind, __u8 direction)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct conn_key key;
	struct data_scratch *s;
	struct conn *c;
	__u32 zero = 0, captured = 0, size, d;
	__u64 now, ptr;

	if (ret <= 0 || skip_self(pid_tgid))
		return 0;
	key.tgid = pid_tgid >> 32;
	key.fd = syscall_arg(0);
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c || c->proto == PROTO_OTHER)
		return 0;
	if (!same_socket(c, key.fd)) {
		close_conn(&key, c);
		return 0;
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	size = ret;
	d = direction == DIR_INGRESS ? 0 : 1;
	ptr = syscall_arg(1);

	switch (kind) {
	case CALL_BUF:
		captured = size < CAPTURE_LEN ? size : CAPTURE_LEN;
		verifier_bound(captured, 2 * CAPTURE_LEN);
		if (bpf_probe_read_user(s->data, captured, (void *)ptr) < 0)
			captured = 0;
		break;
	case CALL_IOV:
		captured = copy_iovs(s->data, (const struct iovec *)ptr, syscall_arg(2), size);
		break;
	case CALL_MSG: {
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)ptr) == 0)
			captured = copy_iovs(s->data, msg.msg_iov, msg.msg_iovlen, size);
		break;
	}
	case CALL_SENDFILE:
		break;
	}

	now = bpf_ktime_get_boot_ns();
	if (c->proto == PROTO_UNKNOWN) {
		/* HTTP/1 starts with the client's request: the server reads it,
		 * the client writes it. */
		bool request_dir = (c->side == SIDE_SERVER) == (direction == DIR_INGRESS);

		if (kind != CALL_SENDFILE && request_dir && request_start(s->data, captured) != START_NO) {
			c->proto = PROTO_HTTP1;
			count_classified(PROTO_HTTP1);
			emit_open(c, pid_tgid, key.fd, now);
		} else if (c->hunt > 0) {
			c->hunt--;
			c->pos[d & 1] += size;
			return 0;
		} else {
			c->proto = PROTO_OTHER;
			count_classified(PROTO_OTHER);
			return 0;
		}
	}
	if (c->proto != PROTO_HTTP1)
		return 0;

	struct data_record *r = &s->rec;
	r->type = RECORD_DATA;
	r->direction = direction;
	r->flags = kind == CALL_SENDFILE ? DATA_SENDFILE : 0;
	r->_pad0 = 0;
	r->pid = pid_tgid >> 32;
	r->tid = (__u32)pid_tgid;
	r->size = size;
	r->id = c->id;
	r->pos = c->pos[d & 1];
	r->enter_ns = now;
	r->exit_ns = now;
	r->captured = captured;
	r->_pad1 = 0;
	c->pos[d & 1] += size;

	if (captured > CAPTURE_LEN)
		return 0;
	verifier_bound(captured, 2 * CAPTURE_LEN);
	if (bpf_ringbuf_output(&events, s, sizeof(struct data_record) + captured,
			       wakeup_flags_output(&events, sizeof(struct data_record) + captured)) < 0)
		count_lost(&lost);
	return 0;
}

/*
 * OBSERVE(name) defines exit_<name>, the observe-stage program of syscall
 * name: body(ctx) runs, then the secure stage's program for the same
 * syscall, if there is one (a tail call does not return).
 */
#define OBSERVE(name, body)                                   \
	SEC("raw_tp")                                         \
	int exit_##name(void *ctx)                            \
	{                                                     \
		body;                                         \
		bpf_tail_call(ctx, &sys_exit_secure, syscall_nr()); \
		return 0;                                     \
	}

OBSERVE(read, on_exit(EXIT_RET(ctx), CALL_BUF, DIR_INGRESS))
OBSERVE(recvfrom, on_exit(EXIT_RET(ctx), CALL_BUF, DIR_INGRESS))
OBSERVE(readv, on_exit(EXIT_RET(ctx), CALL_IOV, DIR_INGRESS))
OBSERVE(recvmsg, on_exit(EXIT_RET(ctx), CALL_MSG, DIR_INGRESS))
OBSERVE(write, on_exit(EXIT_RET(ctx), CALL_BUF, DIR_EGRESS))
OBSERVE(sendto, on_exit(EXIT_RET(ctx), CALL_BUF, DIR_EGRESS))
OBSERVE(writev, on_exit(EXIT_RET(ctx), CALL_IOV, DIR_EGRESS))
OBSERVE(sendmsg, on_exit(EXIT_RET(ctx), CALL_MSG, DIR_EGRESS))
OBSERVE(sendfile64, on_exit(EXIT_RET(ctx), CALL_SENDFILE, DIR_EGRESS)) /* out_fd is the first argument */

/* accept: the new connection is the return value. */
static __always_inline void accept_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (ret >= 0 && !skip_self(pid_tgid))
		track(pid_tgid, ret, SIDE_SERVER);
}

OBSERVE(accept4, accept_exit(EXIT_RET(ctx)))
OBSERVE(accept, accept_exit(EXIT_RET(ctx)))

/* A non-blocking connect returns EINPROGRESS; the socket is tracked all the
 * same, and its first write tells whether it is HTTP. */
static __always_inline void connect_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if ((ret == 0 || ret == -EINPROGRESS) && !skip_self(pid_tgid))
		track(pid_tgid, syscall_arg(0), SIDE_CLIENT);
}

OBSERVE(connect, connect_exit(EXIT_RET(ctx)))

/*
 * end_replaced ends the connection tracked at fd once the fd no longer
 * holds its socket. Connections seeded from /proc have no socket recorded
 * (sk 0) and are ended too.
 */
static __always_inline void end_replaced(__u32 fd)
{
	struct conn_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd};
	struct conn *c = bpf_map_lookup_elem(&conns, &key);

	if (c && (!c->sk || c->sk != (__u64)tcp_sock_of(fd)))
		close_conn(&key, c);
}

/*
 * close is seen at its exit, when the fd is already free: another thread
 * may have reused it by now. The connection ends unless the fd holds its
 * socket still; when a reuse was tracked first, track already ended it and
 * the entry is the new connection's, with the socket the fd holds. Linux
 * frees the fd even when close fails, except with EBADF.
 */
static __always_inline void close_exit(long ret)
{
	if (ret != -EBADF)
		end_replaced(syscall_arg(0));
}

OBSERVE(close, close_exit(EXIT_RET(ctx)))

/* dup2 and dup3 over a tracked fd end its connection without a close(2);
 * the fd (their return value) then holds another file. */
static __always_inline void dup_exit(long ret)
{
	if (ret >= 0)
		end_replaced(ret);
}

OBSERVE(dup2, dup_exit(EXIT_RET(ctx)))
OBSERVE(dup3, dup_exit(EXIT_RET(ctx)))
