// Package kernel finds out what the running kernel offers vigil: the pseudo
// filesystems it needs (tracefs, bpffs, cgroup2) and, in doctor.go, which BPF
// hooks, helpers and map types really load and attach.
package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Well-known mount points. vigil looks these up in /proc/self/mountinfo
// rather than assuming them, and only mounts at them when nothing suitable
// is mounted yet.
const (
	mountinfoPath = "/proc/self/mountinfo"

	tracefsPath      = "/sys/kernel/tracing"
	debugTracefsPath = "/sys/kernel/debug/tracing"
	bpffsPath        = "/sys/fs/bpf"
)

// Mount is one line of /proc/<pid>/mountinfo (see proc_pid_mountinfo(5)).
// Path-like fields are unescaped: the kernel writes a space in a path as
// \040, and Mount holds the space.
type Mount struct {
	ID         int
	Parent     int
	Root       string // path of the mounted directory inside its filesystem
	MountPoint string // where it is mounted, relative to our root
	FSType     string // e.g. "cgroup2", "tracefs", "bpf"
	Source     string // device or "none"
	Options    string // per-mount options, e.g. "rw,nosuid,relatime"

	// SuperOptions are the per-superblock options, e.g. the controllers of a
	// cgroup v1 hierarchy ("rw,cpu,cpuacct").
	SuperOptions string
}

// ParseMountinfo parses the text of /proc/<pid>/mountinfo.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	// Lines carry the full super options (e.g. overlayfs lowerdir lists),
	// which can be far longer than bufio's 64 KiB default.
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMountinfoLine(line)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// parseMountinfoLine parses
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// where zero or more optional fields ("master:1") end at the "-" separator.
func parseMountinfoLine(line string) (Mount, error) {
	fields := strings.Fields(line)
	sep := -1
	// The separator comes after the six fixed fields; searching from there
	// keeps a mount point literally named "-" from being mistaken for it.
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 {
		return Mount{}, fmt.Errorf("no optional-fields separator in %q", line)
	}
	if len(fields) < sep+3 {
		return Mount{}, fmt.Errorf("want filesystem type and source after separator in %q", line)
	}

	id, err := strconv.Atoi(fields[0])
	if err != nil {
		return Mount{}, fmt.Errorf("mount ID: %w", err)
	}
	parent, err := strconv.Atoi(fields[1])
	if err != nil {
		return Mount{}, fmt.Errorf("parent ID: %w", err)
	}
	m := Mount{
		ID:         id,
		Parent:     parent,
		Root:       unescapeOctal(fields[3]),
		MountPoint: unescapeOctal(fields[4]),
		Options:    fields[5],
		FSType:     unescapeOctal(fields[sep+1]),
		Source:     unescapeOctal(fields[sep+2]),
	}
	if len(fields) > sep+3 {
		m.SuperOptions = fields[sep+3]
	}
	return m, nil
}

// unescapeOctal undoes the kernel's mangle(): space, tab, newline and
// backslash in paths are written as \040, \011, \012 and \134. Anything that
// is not a backslash followed by three octal digits is kept as is.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		// The first digit is at most 3: \3xx is the largest byte value.
		if s[i] == '\\' && i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// readMounts parses our own mount table. It is the one of our mount
// namespace, which is what matters for the paths we open.
func readMounts() ([]Mount, error) {
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("open mount table: %w", err)
	}
	defer f.Close()
	mounts, err := ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mountinfoPath, err)
	}
	return mounts, nil
}

// FindMount returns the first mount point of a filesystem of type fstype in
// /proc/self/mountinfo. The error wraps fs.ErrNotExist when there is none.
func FindMount(fstype string) (string, error) {
	mounts, err := readMounts()
	if err != nil {
		return "", err
	}
	return findMount(mounts, fstype)
}

func findMount(mounts []Mount, fstype string) (string, error) {
	for _, m := range mounts {
		if m.FSType == fstype {
			return m.MountPoint, nil
		}
	}
	return "", fmt.Errorf("no %s mount in %s: %w", fstype, mountinfoPath, fs.ErrNotExist)
}

// Cgroup2Path returns where the cgroup v2 hierarchy is mounted:
// /sys/fs/cgroup on pure v2 systems, often /sys/fs/cgroup/unified on hybrid
// v1/v2 ones. The error wraps fs.ErrNotExist when cgroup2 is not mounted;
// vigil does not mount it itself, since the cgroup layout belongs to the
// init system and container runtime.
func Cgroup2Path() (string, error) {
	return FindMount("cgroup2")
}

// EnsureTracefs returns the tracefs mount point, mounting tracefs at
// /sys/kernel/tracing if it is not mounted yet.
//
// Only /sys/kernel/tracing and /sys/kernel/debug/tracing count: those are
// the places cilium/ebpf looks for it, and it remembers the result of its
// first look for the life of the process. Call EnsureTracefs before
// attaching any tracepoint, kprobe or uprobe.
func EnsureTracefs() (string, error) {
	p, _, err := ensureTracefs()
	return p, err
}

// ensureTracefs is EnsureTracefs that also says whether it mounted tracefs,
// so that doctor can tell the user it changed the system.
func ensureTracefs() (path string, mounted bool, err error) {
	return ensureMount("tracefs", []string{tracefsPath, debugTracefsPath}, false, tracefsPath)
}

// EnsureBPFFS returns a bpf filesystem mount point for pinning, preferring
// /sys/fs/bpf, and mounts one there if none is mounted. Unlike tracefs any
// bpffs mount will do, so one at an unusual place is used as is.
func EnsureBPFFS() (string, error) {
	p, _, err := ensureMount("bpf", []string{bpffsPath}, true, bpffsPath)
	return p, err
}

// ensureMount returns the first of preferred that has an fstype mount (or,
// when anyOK, any fstype mount), else mounts fstype at target and reports
// that it did.
func ensureMount(fstype string, preferred []string, anyOK bool, target string) (path string, mounted bool, err error) {
	mounts, err := readMounts()
	if err != nil {
		return "", false, err
	}
	if p, ok := pickMount(mounts, fstype, preferred, anyOK); ok {
		return p, false, nil
	}

	// The directory exists in sysfs when the kernel has the feature, but not
	// in a container with its own /sys layout; creating it is harmless.
	if err := os.MkdirAll(target, 0o755); err != nil {
		return "", false, fmt.Errorf("create %s mount point: %w", fstype, err)
	}
	// The same flags systemd uses for these filesystems.
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME
	err = unix.Mount(fstype, target, fstype, flags, "")
	if errors.Is(err, unix.EBUSY) {
		// Someone else (systemd, another agent) mounted it meanwhile.
		if mounts, rerr := readMounts(); rerr == nil {
			if p, ok := pickMount(mounts, fstype, preferred, anyOK); ok {
				return p, false, nil
			}
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("mount %s at %s: %w", fstype, target, err)
	}
	return target, true, nil
}

func pickMount(mounts []Mount, fstype string, preferred []string, anyOK bool) (string, bool) {
	for _, p := range preferred {
		for _, m := range mounts {
			if m.FSType == fstype && m.MountPoint == p {
				return p, true
			}
		}
	}
	if anyOK {
		if p, err := findMount(mounts, fstype); err == nil {
			return p, true
		}
	}
	return "", false
}
