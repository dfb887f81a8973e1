package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigil-dev/vigil/internal/event"
)

// DefaultProcRoot is where procfs is mounted on every Linux system vigil
// supports; a container running vigil with the host's procfs bind-mounted
// elsewhere passes that path instead.
const DefaultProcRoot = "/proc"

// clockTicksPerSecond is USER_HZ, the unit of the times in /proc/<pid>/stat.
// It is kernel ABI, independent of CONFIG_HZ, and 100 on every architecture
// Go supports on Linux (only alpha differs). glibc's sysconf(_SC_CLK_TCK)
// returns the same constant, so hard-coding it loses nothing and needs no cgo.
const clockTicksPerSecond = 100

const nsPerClockTick = 1_000_000_000 / clockTicksPerSecond

// Info is one process as read from procfs.
type Info struct {
	// Process has every field filled that procfs provides. CgroupID is 0
	// from ReadProcess (procfs does not expose it); Snapshot resolves it.
	// Process.Service is the derived service name (see ServiceName).
	Process event.Process
	// CgroupPath is the process's cgroup v2 path ("0::" line of
	// /proc/<pid>/cgroup), relative to the cgroup2 mount. On a host with
	// cgroup v1 only it is the first v1 path that names a container, or "".
	CgroupPath string
	// StartTime is when the process started, in nanoseconds since boot
	// (CLOCK_BOOTTIME, the kernel's task->start_boottime), with the 10 ms
	// resolution of USER_HZ.
	StartTime uint64
}

// ReadProcess reads process pid from the procfs mounted at procRoot
// ("" means DefaultProcRoot).
//
// stat, status, cmdline and cgroup must be readable: when the process
// vanishes the error wraps fs.ErrNotExist or syscall.ESRCH (see
// IsProcessGone). exe, cwd and environ are best effort: they are unreadable
// for kernel threads and zombies, and for other users' processes without
// CAP_SYS_PTRACE, so their fields are left empty (Service then falls back to
// the executable or comm).
//
// All files are read relative to one open /proc/<pid> directory, so if the
// pid is reused mid-read the remaining reads fail instead of mixing two
// processes.
func ReadProcess(procRoot string, pid uint32) (Info, error) {
	if procRoot == "" {
		procRoot = DefaultProcRoot
	}
	dir, err := os.OpenRoot(filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10)))
	if err != nil {
		return Info{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	defer dir.Close()

	var info Info
	p := &info.Process
	p.PID, p.TID = pid, pid

	stat, err := dir.ReadFile("stat")
	if err != nil {
		return Info{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	if p.Comm, p.PPID, info.StartTime, err = parseStat(stat); err != nil {
		return Info{}, fmt.Errorf("read process %d: parse stat: %w", pid, err)
	}

	status, err := dir.ReadFile("status")
	if err != nil {
		return Info{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	if p.UID, p.GID, err = parseStatusIDs(status); err != nil {
		return Info{}, fmt.Errorf("read process %d: parse status: %w", pid, err)
	}

	cmdline, err := dir.ReadFile("cmdline")
	if err != nil {
		return Info{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	p.Args = splitArgs(cmdline)

	cgroup, err := dir.ReadFile("cgroup")
	if err != nil {
		return Info{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	cg := parseCgroup(cgroup)
	info.CgroupPath, p.ContainerID = cg.path, cg.containerID

	if exe, err := dir.Readlink("exe"); err == nil {
		// The kernel appends " (deleted)" when the file was unlinked or
		// replaced (typically by a package upgrade); the path is still the
		// best name for what runs.
		p.Exe = strings.TrimSuffix(exe, " (deleted)")
	}
	if cwd, err := dir.Readlink("cwd"); err == nil {
		p.Cwd = cwd
	}
	environ, _ := dir.ReadFile("environ")
	p.Service = ServiceName(environ, p.Exe, p.Comm)
	return info, nil
}

// IsProcessGone reports whether err says the process being read no longer
// exists: that is a normal outcome of reading procfs, not a failure.
func IsProcessGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// Snapshot reads every process in procRoot ("" means DefaultProcRoot).
// Processes that exit while being read are skipped silently.
//
// When cgroup2Root (the cgroup v2 mount point, e.g. /sys/fs/cgroup) is not
// empty, each Process.CgroupID is set to the inode number of the process's
// cgroup directory: that is the id bpf_get_current_cgroup_id() returns
// (both are the cgroup's kernfs node id), so snapshot entries and kernel
// events agree. It stays 0 when the directory cannot be resolved.
//
// Snapshot returns every process it could read; a non-nil error reports
// processes that could not be read for another reason (e.g. procfs mounted
// with hidepid) and is not a reason to discard the result.
func Snapshot(procRoot, cgroup2Root string) ([]Info, error) {
	if procRoot == "" {
		procRoot = DefaultProcRoot
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("snapshot processes: %w", err)
	}
	infos := make([]Info, 0, len(entries))
	var failed int
	var firstErr error
	for _, de := range entries {
		pid, err := strconv.ParseUint(de.Name(), 10, 32)
		if err != nil || pid == 0 {
			continue // not a process: self, sys, meminfo, ...
		}
		info, err := ReadProcess(procRoot, uint32(pid))
		if err != nil {
			if IsProcessGone(err) {
				continue
			}
			if failed++; firstErr == nil {
				firstErr = err
			}
			continue
		}
		if cgroup2Root != "" {
			if ino, err := cgroupInode(cgroup2Root, info.CgroupPath); err == nil {
				info.Process.CgroupID = ino
			}
		}
		infos = append(infos, info)
	}
	if firstErr != nil {
		return infos, fmt.Errorf("snapshot processes: %d unreadable, first: %w", failed, firstErr)
	}
	return infos, nil
}

// cgroupInode returns the inode number of the cgroup v2 directory path below
// cgroup2Root, which equals the kernel's cgroup id.
func cgroupInode(cgroup2Root, path string) (uint64, error) {
	// A process outside vigil's cgroup namespace shows a path relative to
	// that namespace's root, starting with "/..". Joining would silently
	// clean the ".." away and stat an unrelated directory.
	if !strings.HasPrefix(path, "/") || strings.Contains(path+"/", "/../") {
		return 0, fmt.Errorf("cgroup path %q is not below the cgroup2 root", path)
	}
	fi, err := os.Stat(filepath.Join(cgroup2Root, path))
	if err != nil {
		return 0, fmt.Errorf("resolve cgroup id: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("resolve cgroup id of %s: no inode in %T", fi.Name(), fi.Sys())
	}
	return st.Ino, nil
}

// ServiceName derives a process's service name as the Prometheus and OTLP
// exporters label it: the OTEL_SERVICE_NAME variable of its environment
// (environ as in /proc/<pid>/environ, NUL separated) when set and not empty,
// else the base name of its executable, else its comm (kernel threads and
// processes whose exe is unreadable).
func ServiceName(environ []byte, exe, comm string) string {
	if v := EnvService(environ); v != "" {
		return v
	}
	if exe != "" {
		return filepath.Base(exe)
	}
	return comm
}

// EnvService returns the OTEL_SERVICE_NAME value in environ (NUL
// separated), or "" when it is unset or empty.
func EnvService(environ []byte) string {
	const key = "OTEL_SERVICE_NAME="
	for len(environ) > 0 {
		kv := environ
		if i := bytes.IndexByte(environ, 0); i >= 0 {
			kv, environ = environ[:i], environ[i+1:]
		} else {
			environ = nil
		}
		// The first occurrence wins, as with getenv(3). An empty value means
		// unset, as in the OTel SDKs.
		if v, ok := bytes.CutPrefix(kv, []byte(key)); ok {
			return string(v)
		}
	}
	return ""
}

// parseStat extracts comm, ppid and the start time in boot-relative
// nanoseconds from /proc/<pid>/stat.
func parseStat(data []byte) (comm string, ppid uint32, startNs uint64, err error) {
	// comm is the second field, in parentheses, and may itself contain
	// spaces and parentheses ("a) b (c"): it ends at the last ')'.
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return "", 0, 0, fmt.Errorf("no (comm) in %q", truncate(data))
	}
	comm = string(data[open+1 : end])
	// fields[0] is field 3 of proc(5) (state), so field N is fields[N-3].
	fields := bytes.Fields(data[end+1:])
	const ppidField, startField = 4 - 3, 22 - 3
	if len(fields) <= startField {
		return "", 0, 0, fmt.Errorf("%d fields after comm, want at least %d", len(fields), startField+1)
	}
	pp, err := strconv.ParseUint(string(fields[ppidField]), 10, 32)
	if err != nil {
		return "", 0, 0, fmt.Errorf("ppid: %w", err)
	}
	ticks, err := strconv.ParseUint(string(fields[startField]), 10, 64)
	if err != nil {
		return "", 0, 0, fmt.Errorf("starttime: %w", err)
	}
	return comm, uint32(pp), ticks * nsPerClockTick, nil
}

// parseStatusIDs extracts the real uid and gid from /proc/<pid>/status
// ("Uid:\treal\teffective\tsaved\tfs").
func parseStatusIDs(data []byte) (uid, gid uint32, err error) {
	var haveUID, haveGID bool
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		var dst *uint32
		var rest []byte
		if r, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			dst, rest, haveUID = &uid, r, true
		} else if r, ok := bytes.CutPrefix(line, []byte("Gid:")); ok {
			dst, rest, haveGID = &gid, r, true
		} else {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) == 0 {
			return 0, 0, fmt.Errorf("empty %q line", line)
		}
		v, err := strconv.ParseUint(string(fields[0]), 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("%q: %w", line, err)
		}
		*dst = uint32(v)
		if haveUID && haveGID {
			return uid, gid, nil
		}
	}
	return 0, 0, errors.New("no Uid: and Gid: lines")
}

// splitArgs splits /proc/<pid>/cmdline into arguments. It never returns nil,
// so that "args" is an array in the JSON contract even for kernel threads.
//
// All trailing NULs are dropped, not only the terminator of the last
// argument: processes that rewrite their title (nginx, postgres, anything
// using setproctitle) pad the old argv area with NULs, and dropping the
// padding beats reporting dozens of empty arguments. The cost is losing
// genuinely empty trailing arguments, which are rare.
func splitArgs(cmdline []byte) []string {
	cmdline = bytes.TrimRight(cmdline, "\x00")
	if len(cmdline) == 0 {
		return []string{}
	}
	return strings.Split(string(cmdline), "\x00")
}

// cgroupInfo is what /proc/<pid>/cgroup says about a process.
type cgroupInfo struct {
	path        string
	containerID string
	// byV2 is true when containerID (found or not) follows from the cgroup
	// v2 path alone, so it may be cached by the kernel's cgroup id. On
	// hybrid hosts where runtimes manage only v1 hierarchies, processes in
	// different containers share one v2 cgroup and it is false.
	byV2 bool
}

// parseCgroup interprets /proc/<pid>/cgroup. Lines are
// "hierarchy-id:controllers:path"; cgroup v2 is the line "0::path".
func parseCgroup(data []byte) cgroupInfo {
	var (
		v2Path, v1Path, v1ID string
		haveV2, haveV1       bool
	)
	for line := range strings.SplitSeq(string(data), "\n") {
		hier, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		controllers, path, ok := strings.Cut(rest, ":") // path may contain ':'
		if !ok {
			continue
		}
		if hier == "0" && controllers == "" {
			v2Path, haveV2 = path, true
			continue
		}
		haveV1 = true
		if v1ID == "" {
			if id := ContainerID(path); id != "" {
				v1Path, v1ID = path, id
			}
		}
	}
	if !haveV2 {
		return cgroupInfo{path: v1Path, containerID: v1ID}
	}
	if id := ContainerID(v2Path); id != "" || !haveV1 {
		return cgroupInfo{path: v2Path, containerID: id, byV2: true}
	}
	// Hybrid host, container managed through v1 only (e.g. docker with the
	// cgroupfs driver): keep the v2 path, which matches the kernel's cgroup
	// id, but take the container from v1.
	return cgroupInfo{path: v2Path, containerID: v1ID}
}

// readCgroup reads and interprets /proc/<pid>/cgroup.
func readCgroup(procRoot string, pid uint32) (cgroupInfo, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return cgroupInfo{}, fmt.Errorf("read cgroup of process %d: %w", pid, err)
	}
	return parseCgroup(data), nil
}

// readEnviron reads /proc/<pid>/environ.
func readEnviron(procRoot string, pid uint32) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10), "environ"))
	if err != nil {
		return nil, fmt.Errorf("read environ of process %d: %w", pid, err)
	}
	return data, nil
}

func truncate(b []byte) []byte {
	const limit = 64
	if len(b) > limit {
		return b[:limit]
	}
	return b
}

// SelfPID is this process's pid as the procfs at procRoot numbers it ("" means
// DefaultProcRoot): "self" there resolves in the pid namespace of that
// mount, which is the namespace of every pid read from it. It equals the
// kernel's pid (bpfrt.SelfTGID) only when that procfs is the node's.
func SelfPID(procRoot string) (uint32, error) {
	if procRoot == "" {
		procRoot = DefaultProcRoot
	}
	target, err := os.Readlink(filepath.Join(procRoot, "self"))
	if err != nil {
		return 0, fmt.Errorf("read this process's pid from %s: %w", procRoot, err)
	}
	pid, err := strconv.ParseUint(target, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("read this process's pid from %s: %q is not a pid", procRoot, target)
	}
	return uint32(pid), nil
}
