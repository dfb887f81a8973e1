package bpfrt

import "golang.org/x/sys/unix"

// syscallNumbers are the x86_64 numbers of the syscalls sensors hook, by
// their tracefs names (sys_exit_<name>; sendfile's is sendfile64).
var syscallNumbers = map[string]uint32{
	"read": unix.SYS_READ, "write": unix.SYS_WRITE, "readv": unix.SYS_READV, "writev": unix.SYS_WRITEV,
	"recvfrom": unix.SYS_RECVFROM, "sendto": unix.SYS_SENDTO, "recvmsg": unix.SYS_RECVMSG, "sendmsg": unix.SYS_SENDMSG,
	"sendfile64": unix.SYS_SENDFILE, "close": unix.SYS_CLOSE,
	"socket": unix.SYS_SOCKET, "connect": unix.SYS_CONNECT, "bind": unix.SYS_BIND, "listen": unix.SYS_LISTEN,
	"accept": unix.SYS_ACCEPT, "accept4": unix.SYS_ACCEPT4,
	"dup": unix.SYS_DUP, "dup2": unix.SYS_DUP2, "dup3": unix.SYS_DUP3,
	"open": unix.SYS_OPEN, "openat": unix.SYS_OPENAT, "openat2": unix.SYS_OPENAT2, "creat": unix.SYS_CREAT,
	"unlink": unix.SYS_UNLINK, "unlinkat": unix.SYS_UNLINKAT, "rmdir": unix.SYS_RMDIR,
	"rename": unix.SYS_RENAME, "renameat": unix.SYS_RENAMEAT, "renameat2": unix.SYS_RENAMEAT2,
	"link": unix.SYS_LINK, "linkat": unix.SYS_LINKAT, "symlink": unix.SYS_SYMLINK, "symlinkat": unix.SYS_SYMLINKAT,
	"chmod": unix.SYS_CHMOD, "fchmod": unix.SYS_FCHMOD, "fchmodat": unix.SYS_FCHMODAT, "fchmodat2": unix.SYS_FCHMODAT2,
	"chown": unix.SYS_CHOWN, "lchown": unix.SYS_LCHOWN, "fchown": unix.SYS_FCHOWN, "fchownat": unix.SYS_FCHOWNAT,
	"mount":  unix.SYS_MOUNT,
	"setuid": unix.SYS_SETUID, "setreuid": unix.SYS_SETREUID, "setresuid": unix.SYS_SETRESUID, "setfsuid": unix.SYS_SETFSUID,
	"setgid": unix.SYS_SETGID, "setregid": unix.SYS_SETREGID, "setresgid": unix.SYS_SETRESGID, "setfsgid": unix.SYS_SETFSGID,
	"capset": unix.SYS_CAPSET, "ptrace": unix.SYS_PTRACE,
	"init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE,
	"memfd_create": unix.SYS_MEMFD_CREATE, "bpf": unix.SYS_BPF,
}
