package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/kernel"
)

const dockerID = "3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9"

func TestReadProcessFake(t *testing.T) {
	root := t.TempDir()
	writeFakeProc(t, root, fakeProc{
		pid: 4242, ppid: 17, comm: "a) b (c", uid: 1000, gid: 100, startTicks: 123456,
		exe:     "/usr/lib/app/server (deleted)",
		cwd:     "/srv/app",
		args:    []string{"/usr/lib/app/server", "--listen", ":8080", "with space"},
		environ: []string{"HOME=/root", "OTEL_SERVICE_NAME=checkout", "PATH=/usr/bin"},
		cgroup:  cgroupV2("/system.slice/docker-" + dockerID + ".scope"),
	})
	info, err := ReadProcess(root, 4242)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{
		Process: event.Process{
			PID: 4242, TID: 4242, PPID: 17, UID: 1000, GID: 100,
			Comm:        "a) b (c",
			Exe:         "/usr/lib/app/server",
			Args:        []string{"/usr/lib/app/server", "--listen", ":8080", "with space"},
			Cwd:         "/srv/app",
			ContainerID: dockerID,
			Service:     "checkout",
		},
		CgroupPath: "/system.slice/docker-" + dockerID + ".scope",
		StartTime:  123456 * 10_000_000,
	}
	if diff := diffInfo(info, want); diff != "" {
		t.Error(diff)
	}
}

func TestReadProcessFakeVariants(t *testing.T) {
	tests := []struct {
		name        string
		proc        fakeProc
		args        []string
		exe         string
		service     string
		cgroupPath  string
		containerID string
	}{
		{
			name: "no OTEL_SERVICE_NAME: exe base name",
			proc: fakeProc{comm: "python3", exe: "/usr/bin/python3.12", args: []string{"python3", "app.py"},
				environ: []string{"OTEL_SERVICE_NAME_SUFFIX=x", "LANG=C"}, cgroup: cgroupV2("/user.slice/user-1000.slice/session-2.scope")},
			args: []string{"python3", "app.py"}, exe: "/usr/bin/python3.12", service: "python3.12",
			cgroupPath: "/user.slice/user-1000.slice/session-2.scope",
		},
		{
			name: "kernel thread: no exe, empty cmdline, no environ",
			proc: fakeProc{comm: "kworker/0:1-events", cgroup: cgroupV2("/")},
			args: []string{}, service: "kworker/0:1-events", cgroupPath: "/",
		},
		{
			name: "setproctitle padding",
			proc: fakeProc{comm: "nginx", exe: "/usr/sbin/nginx", cmdline: []byte("nginx: worker process\x00\x00\x00\x00\x00\x00"),
				cgroup: cgroupV2("/system.slice/nginx.service")},
			args: []string{"nginx: worker process"}, exe: "/usr/sbin/nginx", service: "nginx",
			cgroupPath: "/system.slice/nginx.service",
		},
		{
			name: "cgroup v1 only: first container-looking path",
			proc: fakeProc{comm: "sh", exe: "/bin/sh", args: []string{"sh"}, cgroup: "12:pids:/\n11:memory:/docker/" + dockerID + "\n" +
				"10:cpu,cpuacct:/docker/" + dockerID + "\n1:name=systemd:/docker/" + dockerID + "\n"},
			args: []string{"sh"}, exe: "/bin/sh", service: "sh",
			cgroupPath: "/docker/" + dockerID, containerID: dockerID,
		},
		{
			name: "cgroup v1 only, not in a container",
			proc: fakeProc{comm: "sshd", exe: "/usr/sbin/sshd", args: []string{"sshd"}, cgroup: "4:memory:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n"},
			args: []string{"sshd"}, exe: "/usr/sbin/sshd", service: "sshd",
		},
		{
			name: "hybrid: v2 path, v1 container",
			proc: fakeProc{comm: "sh", exe: "/bin/sh", args: []string{"sh"},
				cgroup: "4:memory:/docker/" + dockerID + "\n1:name=systemd:/docker/" + dockerID + "\n0::/system.slice/containerd.service\n"},
			args: []string{"sh"}, exe: "/bin/sh", service: "sh",
			cgroupPath: "/system.slice/containerd.service", containerID: dockerID,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.proc.pid, tc.proc.ppid = 77, 1
			writeFakeProc(t, root, tc.proc)
			info, err := ReadProcess(root, 77)
			if err != nil {
				t.Fatal(err)
			}
			p := info.Process
			if p.Args == nil || !slices.Equal(p.Args, tc.args) {
				t.Errorf("args = %#v, want %#v", p.Args, tc.args)
			}
			if p.Exe != tc.exe || p.Service != tc.service || p.ContainerID != tc.containerID || info.CgroupPath != tc.cgroupPath {
				t.Errorf("exe %q service %q container %q cgroup %q, want %q %q %q %q",
					p.Exe, p.Service, p.ContainerID, info.CgroupPath, tc.exe, tc.service, tc.containerID, tc.cgroupPath)
			}
		})
	}
}

func TestReadProcessErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := ReadProcess(root, 12345); !IsProcessGone(err) {
		t.Errorf("missing process: err = %v, want a gone error", err)
	}

	// A process that vanished between listing and reading: the directory
	// is there but its files are not.
	if err := os.Mkdir(filepath.Join(root, "5"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadProcess(root, 5); !IsProcessGone(err) {
		t.Errorf("vanished process: err = %v, want a gone error", err)
	}

	writeFakeProc(t, root, fakeProc{pid: 6, comm: "x", cgroup: cgroupV2("/")})
	if err := os.WriteFile(filepath.Join(root, "6", "stat"), []byte("6 (x S 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadProcess(root, 6)
	if err == nil || IsProcessGone(err) || !strings.Contains(err.Error(), "process 6") {
		t.Errorf("malformed stat: err = %v, want a parse error naming the process", err)
	}
}

func TestServiceName(t *testing.T) {
	tests := []struct {
		environ   string
		exe, comm string
		want      string
	}{
		{"A=1\x00OTEL_SERVICE_NAME=cart\x00B=2\x00", "/usr/bin/node", "node", "cart"},
		{"OTEL_SERVICE_NAME=cart", "/usr/bin/node", "node", "cart"}, // no trailing NUL
		{"OTEL_SERVICE_NAME=first\x00OTEL_SERVICE_NAME=second\x00", "", "", "first"},
		{"OTEL_SERVICE_NAME=\x00", "/usr/bin/node", "node", "node"}, // empty means unset
		{"XOTEL_SERVICE_NAME=no\x00OTEL_SERVICE_NAMES=no\x00", "/usr/bin/node", "node", "node"},
		{"", "/usr/bin/node", "node", "node"},
		{"", "", "kthreadd", "kthreadd"},
	}
	for _, tc := range tests {
		if got := ServiceName([]byte(tc.environ), tc.exe, tc.comm); got != tc.want {
			t.Errorf("ServiceName(%q, %q, %q) = %q, want %q", tc.environ, tc.exe, tc.comm, got, tc.want)
		}
	}
}

func TestSnapshotFake(t *testing.T) {
	root := t.TempDir()
	writeFakeProc(t, root, fakeProc{pid: 1, comm: "systemd", exe: "/usr/lib/systemd/systemd", args: []string{"/sbin/init"}, cgroup: cgroupV2("/init.scope")})
	writeFakeProc(t, root, fakeProc{pid: 2, comm: "kthreadd", cgroup: cgroupV2("/")})
	writeFakeProc(t, root, fakeProc{pid: 300, ppid: 1, comm: "bash", exe: "/usr/bin/bash", args: []string{"-bash"}, cgroup: cgroupV2("/")})
	// Not processes, or gone: skipped without error.
	for _, d := range []string{"sys", "123abc", "0", "900"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("300", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}
	infos, err := Snapshot(root, "")
	if err != nil {
		t.Fatal(err)
	}
	var pids []uint32
	for _, in := range infos {
		pids = append(pids, in.Process.PID)
	}
	if !slices.Equal(pids, []uint32{1, 2, 300}) {
		t.Errorf("pids = %v, want [1 2 300]", pids)
	}

	// A process that cannot be read for another reason is reported but
	// does not hide the others.
	writeFakeProc(t, root, fakeProc{pid: 400, comm: "bad", cgroup: cgroupV2("/")})
	if err := os.WriteFile(filepath.Join(root, "400", "status"), []byte("Name:\tbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err = Snapshot(root, "")
	if err == nil || !strings.Contains(err.Error(), "process 400") {
		t.Errorf("err = %v, want one naming process 400", err)
	}
	if len(infos) != 3 {
		t.Errorf("got %d processes with the error, want 3", len(infos))
	}
}

func TestCgroupInodeRejectsEscapingPaths(t *testing.T) {
	for _, path := range []string{"/../../kubepods.slice", "/a/../b", "relative", ""} {
		if _, err := cgroupInode(t.TempDir(), path); err == nil {
			t.Errorf("cgroupInode(%q) succeeded, want an error", path)
		}
	}
}

// TestReadProcessSelf reads the test process itself from the real /proc.
func TestReadProcessSelf(t *testing.T) {
	info, err := ReadProcess("", uint32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	p := info.Process
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if p.Exe != exe {
		t.Errorf("exe = %q, want %q", p.Exe, exe)
	}
	if !slices.Equal(p.Args, os.Args) {
		t.Errorf("args = %q, want %q", p.Args, os.Args)
	}
	if int(p.PPID) != os.Getppid() {
		t.Errorf("ppid = %d, want %d", p.PPID, os.Getppid())
	}
	if int(p.UID) != os.Getuid() || int(p.GID) != os.Getgid() {
		t.Errorf("uid/gid = %d/%d, want %d/%d", p.UID, p.GID, os.Getuid(), os.Getgid())
	}
	if wd, _ := os.Getwd(); p.Cwd != wd {
		t.Errorf("cwd = %q, want %q", p.Cwd, wd)
	}
	wantComm := filepath.Base(exe)
	if len(wantComm) > 15 { // TASK_COMM_LEN - 1
		wantComm = wantComm[:15]
	}
	if p.Comm != wantComm {
		t.Errorf("comm = %q, want %q", p.Comm, wantComm)
	}
	if p.Service != filepath.Base(exe) && os.Getenv("OTEL_SERVICE_NAME") == "" {
		t.Errorf("service = %q, want %q", p.Service, filepath.Base(exe))
	}
	// The process started before now (uptime has a 10 ms resolution too),
	// and, go test having just started it, not long before.
	now := uptimeNs(t)
	if info.StartTime > now+uint64(time.Second) || info.StartTime+uint64(10*time.Minute) < now {
		t.Errorf("start time %d ns since boot, uptime %d ns", info.StartTime, now)
	}
	want := parseCgroup(mustRead(t, "/proc/self/cgroup"))
	if info.CgroupPath != want.path {
		t.Errorf("cgroup path = %q, want %q", info.CgroupPath, want.path)
	}
}

// TestRealCgroup moves a child into a container-like cgroup of its own and
// checks that ReadProcess, Snapshot and the table see that cgroup, its
// container id and the kernel's cgroup id.
func TestRealCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		bpftest.Require(t)
	}
	root := cgroup2Mount(t)
	parent := filepath.Join(root, fmt.Sprintf("vigil-proc-test-%d", os.Getpid()))
	if err := os.Mkdir(parent, 0o755); err != nil {
		bpftest.SkipOrFail(t, fmt.Sprintf("cannot create a cgroup: %v", err))
	}
	t.Cleanup(func() { removeCgroup(t, parent) })
	dir := filepath.Join(parent, "docker-"+dockerID+".scope")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })

	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	pid := uint32(child.Process.Pid)
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(child.Process.Pid)), 0); err != nil {
		t.Fatalf("move child into %s: %v", dir, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	wantPath := strings.TrimPrefix(dir, strings.TrimSuffix(root, "/"))

	info, err := ReadProcess("", pid)
	if err != nil {
		t.Fatal(err)
	}
	if info.CgroupPath != wantPath || info.Process.ContainerID != dockerID || info.Process.CgroupID != 0 {
		t.Errorf("ReadProcess: cgroup %q container %q id %d, want %q %q 0",
			info.CgroupPath, info.Process.ContainerID, info.Process.CgroupID, wantPath, dockerID)
	}

	infos, err := Snapshot("", root)
	if err != nil {
		t.Logf("snapshot: %v", err) // unrelated unreadable processes are fine
	}
	i := slices.IndexFunc(infos, func(in Info) bool { return in.Process.PID == pid })
	if i < 0 {
		t.Fatalf("snapshot has no process %d", pid)
	}
	if infos[i].CgroupPath != wantPath || infos[i].Process.CgroupID != st.Ino {
		t.Errorf("Snapshot: cgroup %q id %d, want %q %d", infos[i].CgroupPath, infos[i].Process.CgroupID, wantPath, st.Ino)
	}

	// The table resolves a kernel cgroup id by reading the process's cgroup,
	// and caches it only when the path has that id.
	tab := NewTable(TableOptions{Cgroup2Root: root})
	tab.Exec(event.Process{PID: pid, Comm: "sleep", Exe: "/usr/bin/sleep", CgroupID: st.Ino}, 0)
	if p, _ := tab.Lookup(pid); p.ContainerID != dockerID {
		t.Errorf("table: container %q, want %q", p.ContainerID, dockerID)
	}
	tab.Exec(event.Process{PID: pid, Comm: "sleep", Exe: "/usr/bin/sleep", CgroupID: st.Ino + 1_000_000}, 0)
	if p, _ := tab.Lookup(pid); p.ContainerID != "" {
		t.Errorf("table: container %q for a cgroup id the process is not in, want none", p.ContainerID)
	}
	tab.mu.RLock()
	cg, ok := tab.cgroups[st.Ino]
	_, wrong := tab.cgroups[st.Ino+1_000_000]
	tab.mu.RUnlock()
	if !ok || cg.path != wantPath {
		t.Errorf("cgroup cache for %d = %+v, %v; want path %q", st.Ino, cg, ok, wantPath)
	}
	if wrong {
		t.Error("cached a cgroup id that does not match the process's cgroup")
	}
}

// cgroup2Mount returns the cgroup v2 mount point from /proc/self/mountinfo,
// skipping the test when there is none.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	root, err := kernel.Cgroup2Path()
	if err != nil {
		bpftest.SkipOrFail(t, "no cgroup2 mount: "+err.Error())
	}
	return root
}

// removeCgroup removes a test cgroup, retrying while the kernel finishes
// releasing the processes that just left it.
func removeCgroup(t *testing.T, dir string) {
	t.Helper()
	var err error
	for range 50 {
		if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("remove cgroup %s: %v", dir, err)
}

// uptimeNs returns CLOCK_BOOTTIME in nanoseconds, from /proc/uptime.
func uptimeNs(t *testing.T) uint64 {
	t.Helper()
	up, _, _ := strings.Cut(string(mustRead(t, "/proc/uptime")), " ")
	secs, err := strconv.ParseFloat(up, 64)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(secs * 1e9)
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func diffInfo(got, want Info) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	return fmt.Sprintf("got  %+v\nwant %+v", got, want)
}
