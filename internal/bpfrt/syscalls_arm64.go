package bpfrt

import "golang.org/x/sys/unix"

// syscallNumbers are the arm64 numbers of the syscalls sensors hook, by
// their tracefs names (sys_exit_<name>), as on x86_64 (syscalls_amd64.go).
//
// arm64 has only the generic syscall table (include/uapi/asm-generic/
// unistd.h), without the legacy calls that take no directory fd: open,
// creat, unlink, rmdir, rename, link, symlink, chmod, chown, lchown and
// dup2 are absent, so their hooks are skipped (Optional) or, if required,
// fail to attach with ErrNoSyscall naming them. Programs there call the *at
// forms and dup3, which are hooked.
//
// "sendfile64" keeps x86_64's name for the program exit_sendfile64: arm64's
// entry 71 is the kernel's sys_sendfile, which on a 64-bit kernel takes
// the same 64-bit offset as sys_sendfile64 (the tracefs event is
// sys_exit_sendfile there).
var syscallNumbers = map[string]uint32{
	"read": unix.SYS_READ, "write": unix.SYS_WRITE, "readv": unix.SYS_READV, "writev": unix.SYS_WRITEV,
	"recvfrom": unix.SYS_RECVFROM, "sendto": unix.SYS_SENDTO, "recvmsg": unix.SYS_RECVMSG, "sendmsg": unix.SYS_SENDMSG,
	"sendfile64": unix.SYS_SENDFILE, "close": unix.SYS_CLOSE,
	"socket": unix.SYS_SOCKET, "connect": unix.SYS_CONNECT, "bind": unix.SYS_BIND, "listen": unix.SYS_LISTEN,
	"accept": unix.SYS_ACCEPT, "accept4": unix.SYS_ACCEPT4,
	"dup": unix.SYS_DUP, "dup3": unix.SYS_DUP3,
	"openat": unix.SYS_OPENAT, "openat2": unix.SYS_OPENAT2,
	"unlinkat": unix.SYS_UNLINKAT,
	"renameat": unix.SYS_RENAMEAT, "renameat2": unix.SYS_RENAMEAT2,
	"linkat": unix.SYS_LINKAT, "symlinkat": unix.SYS_SYMLINKAT,
	"fchmod": unix.SYS_FCHMOD, "fchmodat": unix.SYS_FCHMODAT, "fchmodat2": unix.SYS_FCHMODAT2,
	"fchown": unix.SYS_FCHOWN, "fchownat": unix.SYS_FCHOWNAT,
	"mount":  unix.SYS_MOUNT,
	"setuid": unix.SYS_SETUID, "setreuid": unix.SYS_SETREUID, "setresuid": unix.SYS_SETRESUID, "setfsuid": unix.SYS_SETFSUID,
	"setgid": unix.SYS_SETGID, "setregid": unix.SYS_SETREGID, "setresgid": unix.SYS_SETRESGID, "setfsgid": unix.SYS_SETFSGID,
	"capset": unix.SYS_CAPSET, "ptrace": unix.SYS_PTRACE,
	"init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE,
	"memfd_create": unix.SYS_MEMFD_CREATE, "bpf": unix.SYS_BPF,
}
