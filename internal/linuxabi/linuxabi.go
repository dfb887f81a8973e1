// Package linuxabi holds the names and numbers of the Linux ABI (of the
// architecture vigil is built for, where they differ) that events print
// and rules name: open and mount flags, address families,
// socket types, ptrace requests, bpf commands, capabilities. Rules and
// decoders share these tables so that a name means one number everywhere.
package linuxabi

import "strings"

// Name is one named value.
type Name struct {
	Name  string
	Value uint64
}

// Table is a set of names, in the order they are printed.
type Table []Name

// Lookup returns the value of name (case-insensitive).
func (t Table) Lookup(name string) (uint64, bool) {
	for _, n := range t {
		if strings.EqualFold(n.Name, name) {
			return n.Value, true
		}
	}
	return 0, false
}

// NameOf returns the name of value v, or "" when the table has none.
func (t Table) NameOf(v uint64) string {
	for _, n := range t {
		if n.Value == v {
			return n.Name
		}
	}
	return ""
}

// Bits returns the names of the flags set in v, in table order; each entry
// is a bit mask, and an entry is named only when all of its bits are set
// (O_SYNC includes O_DSYNC: both are named). Bits no entry covers are left
// out. The result is nil when no flag is set.
func (t Table) Bits(v uint64) []string {
	var out []string
	for _, n := range t {
		if n.Value != 0 && v&n.Value == n.Value {
			out = append(out, n.Name)
		}
	}
	return out
}

// Names lists the table's names.
func (t Table) Names() []string {
	out := make([]string, len(t))
	for i, n := range t {
		out[i] = n.Name
	}
	return out
}

// OAccMode masks the access mode of open flags.
const OAccMode = 3

// Open access modes (flags & OAccMode).
const (
	ORdonly = 0
	OWronly = 1
	ORdwr   = 2
)

// OpenFlags are the open(2) flags other than the access mode.
var OpenFlags = Table{
	{"O_WRONLY", 01},
	{"O_RDWR", 02},
	{"O_CREAT", 0100},
	{"O_EXCL", 0200},
	{"O_NOCTTY", 0400},
	{"O_TRUNC", 01000},
	{"O_APPEND", 02000},
	{"O_NONBLOCK", 04000},
	{"O_DSYNC", 010000},
	{"O_ASYNC", 020000},
	{"O_DIRECT", oDirect},
	{"O_LARGEFILE", oLargefile},
	{"O_DIRECTORY", oDirectory},
	{"O_NOFOLLOW", oNofollow},
	{"O_NOATIME", 01000000},
	{"O_CLOEXEC", 02000000},
	{"O_SYNC", 04010000},
	{"O_PATH", 010000000},
	{"O_TMPFILE", 020000000 | oDirectory}, // __O_TMPFILE | O_DIRECTORY
}

// Access names the access mode of open flags: read, write or read_write.
func Access(flags uint64) string {
	switch flags & OAccMode {
	case OWronly:
		return "write"
	case ORdwr:
		return "read_write"
	}
	return "read"
}

// ModeBits are permission bits of chmod(2) modes.
var ModeBits = Table{
	{"S_ISUID", 04000},
	{"S_ISGID", 02000},
	{"S_ISVTX", 01000},
	{"S_IRWXU", 0700},
	{"S_IRUSR", 0400},
	{"S_IWUSR", 0200},
	{"S_IXUSR", 0100},
	{"S_IRWXG", 070},
	{"S_IRGRP", 040},
	{"S_IWGRP", 020},
	{"S_IXGRP", 010},
	{"S_IRWXO", 07},
	{"S_IROTH", 04},
	{"S_IWOTH", 02},
	{"S_IXOTH", 01},
}

// MountFlags are mount(2) flags.
var MountFlags = Table{
	{"MS_RDONLY", 1},
	{"MS_NOSUID", 2},
	{"MS_NODEV", 4},
	{"MS_NOEXEC", 8},
	{"MS_SYNCHRONOUS", 16},
	{"MS_REMOUNT", 32},
	{"MS_MANDLOCK", 64},
	{"MS_DIRSYNC", 128},
	{"MS_NOSYMFOLLOW", 256},
	{"MS_NOATIME", 1024},
	{"MS_NODIRATIME", 2048},
	{"MS_BIND", 4096},
	{"MS_MOVE", 8192},
	{"MS_REC", 16384},
	{"MS_SILENT", 32768},
	{"MS_UNBINDABLE", 1 << 17},
	{"MS_PRIVATE", 1 << 18},
	{"MS_SLAVE", 1 << 19},
	{"MS_SHARED", 1 << 20},
	{"MS_RELATIME", 1 << 21},
	{"MS_STRICTATIME", 1 << 24},
	{"MS_LAZYTIME", 1 << 25},
}

// AddressFamilies are socket address families.
var AddressFamilies = Table{
	{"AF_UNSPEC", 0},
	{"AF_UNIX", 1},
	{"AF_INET", 2},
	{"AF_AX25", 3},
	{"AF_IPX", 4},
	{"AF_APPLETALK", 5},
	{"AF_NETROM", 6},
	{"AF_BRIDGE", 7},
	{"AF_ATMPVC", 8},
	{"AF_X25", 9},
	{"AF_INET6", 10},
	{"AF_KEY", 15},
	{"AF_NETLINK", 16},
	{"AF_PACKET", 17},
	{"AF_RDS", 21},
	{"AF_CAN", 29},
	{"AF_TIPC", 30},
	{"AF_BLUETOOTH", 31},
	{"AF_ALG", 38},
	{"AF_VSOCK", 40},
	{"AF_KCM", 41},
	{"AF_XDP", 44},
	{"AF_MCTP", 45},
}

// SocketTypeMask masks the type of socket(2)'s type argument (the rest are
// SOCK_NONBLOCK and SOCK_CLOEXEC).
const SocketTypeMask = 0xf

// SocketTypes are socket types.
var SocketTypes = Table{
	{"SOCK_STREAM", 1},
	{"SOCK_DGRAM", 2},
	{"SOCK_RAW", 3},
	{"SOCK_RDM", 4},
	{"SOCK_SEQPACKET", 5},
	{"SOCK_DCCP", 6},
	{"SOCK_PACKET", 10},
}

// PtraceRequests are ptrace(2) requests (x86_64 numbers for the
// architecture-specific ones).
var PtraceRequests = Table{
	{"PTRACE_TRACEME", 0},
	{"PTRACE_PEEKTEXT", 1},
	{"PTRACE_PEEKDATA", 2},
	{"PTRACE_PEEKUSER", 3},
	{"PTRACE_POKETEXT", 4},
	{"PTRACE_POKEDATA", 5},
	{"PTRACE_POKEUSER", 6},
	{"PTRACE_CONT", 7},
	{"PTRACE_KILL", 8},
	{"PTRACE_SINGLESTEP", 9},
	{"PTRACE_GETREGS", 12},
	{"PTRACE_SETREGS", 13},
	{"PTRACE_GETFPREGS", 14},
	{"PTRACE_SETFPREGS", 15},
	{"PTRACE_ATTACH", 16},
	{"PTRACE_DETACH", 17},
	{"PTRACE_SYSCALL", 24},
	{"PTRACE_SETOPTIONS", 0x4200},
	{"PTRACE_GETEVENTMSG", 0x4201},
	{"PTRACE_GETSIGINFO", 0x4202},
	{"PTRACE_SETSIGINFO", 0x4203},
	{"PTRACE_GETREGSET", 0x4204},
	{"PTRACE_SETREGSET", 0x4205},
	{"PTRACE_SEIZE", 0x4206},
	{"PTRACE_INTERRUPT", 0x4207},
	{"PTRACE_LISTEN", 0x4208},
	{"PTRACE_PEEKSIGINFO", 0x4209},
	{"PTRACE_GETSIGMASK", 0x420a},
	{"PTRACE_SETSIGMASK", 0x420b},
	{"PTRACE_SECCOMP_GET_FILTER", 0x420c},
	{"PTRACE_GET_SYSCALL_INFO", 0x420e},
}

// BPFCommands are bpf(2) commands.
var BPFCommands = Table{
	{"BPF_MAP_CREATE", 0},
	{"BPF_MAP_LOOKUP_ELEM", 1},
	{"BPF_MAP_UPDATE_ELEM", 2},
	{"BPF_MAP_DELETE_ELEM", 3},
	{"BPF_MAP_GET_NEXT_KEY", 4},
	{"BPF_PROG_LOAD", 5},
	{"BPF_OBJ_PIN", 6},
	{"BPF_OBJ_GET", 7},
	{"BPF_PROG_ATTACH", 8},
	{"BPF_PROG_DETACH", 9},
	{"BPF_PROG_TEST_RUN", 10},
	{"BPF_PROG_GET_NEXT_ID", 11},
	{"BPF_MAP_GET_NEXT_ID", 12},
	{"BPF_PROG_GET_FD_BY_ID", 13},
	{"BPF_MAP_GET_FD_BY_ID", 14},
	{"BPF_OBJ_GET_INFO_BY_FD", 15},
	{"BPF_PROG_QUERY", 16},
	{"BPF_RAW_TRACEPOINT_OPEN", 17},
	{"BPF_BTF_LOAD", 18},
	{"BPF_BTF_GET_FD_BY_ID", 19},
	{"BPF_TASK_FD_QUERY", 20},
	{"BPF_MAP_LOOKUP_AND_DELETE_ELEM", 21},
	{"BPF_MAP_FREEZE", 22},
	{"BPF_BTF_GET_NEXT_ID", 23},
	{"BPF_MAP_LOOKUP_BATCH", 24},
	{"BPF_MAP_LOOKUP_AND_DELETE_BATCH", 25},
	{"BPF_MAP_UPDATE_BATCH", 26},
	{"BPF_MAP_DELETE_BATCH", 27},
	{"BPF_LINK_CREATE", 28},
	{"BPF_LINK_UPDATE", 29},
	{"BPF_LINK_GET_FD_BY_ID", 30},
	{"BPF_LINK_GET_NEXT_ID", 31},
	{"BPF_ENABLE_STATS", 32},
	{"BPF_ITER_CREATE", 33},
	{"BPF_LINK_DETACH", 34},
	{"BPF_PROG_BIND_MAP", 35},
	{"BPF_TOKEN_CREATE", 36},
}

// Capabilities are capability numbers (bit positions in capset's sets).
var Capabilities = Table{
	{"CAP_CHOWN", 0},
	{"CAP_DAC_OVERRIDE", 1},
	{"CAP_DAC_READ_SEARCH", 2},
	{"CAP_FOWNER", 3},
	{"CAP_FSETID", 4},
	{"CAP_KILL", 5},
	{"CAP_SETGID", 6},
	{"CAP_SETUID", 7},
	{"CAP_SETPCAP", 8},
	{"CAP_LINUX_IMMUTABLE", 9},
	{"CAP_NET_BIND_SERVICE", 10},
	{"CAP_NET_BROADCAST", 11},
	{"CAP_NET_ADMIN", 12},
	{"CAP_NET_RAW", 13},
	{"CAP_IPC_LOCK", 14},
	{"CAP_IPC_OWNER", 15},
	{"CAP_SYS_MODULE", 16},
	{"CAP_SYS_RAWIO", 17},
	{"CAP_SYS_CHROOT", 18},
	{"CAP_SYS_PTRACE", 19},
	{"CAP_SYS_PACCT", 20},
	{"CAP_SYS_ADMIN", 21},
	{"CAP_SYS_BOOT", 22},
	{"CAP_SYS_NICE", 23},
	{"CAP_SYS_RESOURCE", 24},
	{"CAP_SYS_TIME", 25},
	{"CAP_SYS_TTY_CONFIG", 26},
	{"CAP_MKNOD", 27},
	{"CAP_LEASE", 28},
	{"CAP_AUDIT_WRITE", 29},
	{"CAP_AUDIT_CONTROL", 30},
	{"CAP_SETFCAP", 31},
	{"CAP_MAC_OVERRIDE", 32},
	{"CAP_MAC_ADMIN", 33},
	{"CAP_SYSLOG", 34},
	{"CAP_WAKE_ALARM", 35},
	{"CAP_BLOCK_SUSPEND", 36},
	{"CAP_AUDIT_READ", 37},
	{"CAP_PERFMON", 38},
	{"CAP_BPF", 39},
	{"CAP_CHECKPOINT_RESTORE", 40},
}

// CapNames names the capabilities set in a capability bit set.
func CapNames(set uint64) []string {
	var out []string
	for _, c := range Capabilities {
		if set&(1<<c.Value) != 0 {
			out = append(out, c.Name)
		}
	}
	return out
}

// MemfdFlags are memfd_create(2) flags.
var MemfdFlags = Table{
	{"MFD_CLOEXEC", 1},
	{"MFD_ALLOW_SEALING", 2},
	{"MFD_HUGETLB", 4},
	{"MFD_NOEXEC_SEAL", 8},
	{"MFD_EXEC", 0x10},
}
