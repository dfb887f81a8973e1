package proc

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// fileidKernfs is the file handle type of kernfs (cgroupfs) inodes: the
// handle is the 64-bit cgroup id, the same number BPF's
// bpf_get_current_cgroup_id returns.
const fileidKernfs = 0xfe

// CgroupPathByID resolves a kernel cgroup id to its path below the cgroup2
// mount without any process to ask: the process an event came from may have
// exited before the event is handled. open_by_handle_at (needs
// CAP_DAC_READ_SEARCH) opens the cgroup directory from its id in O(1), and
// /proc/self/fd tells where it is.
func CgroupPathByID(cgroup2Root string, id uint64) (string, error) {
	mnt, err := unix.Open(cgroup2Root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open cgroup2 root %s: %w", cgroup2Root, err)
	}
	defer unix.Close(mnt)
	var raw [8]byte
	binary.NativeEndian.PutUint64(raw[:], id)
	fd, err := unix.OpenByHandleAt(mnt, unix.NewFileHandle(fileidKernfs, raw[:]), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return "", fmt.Errorf("open cgroup id %d: %w", id, err)
	}
	defer unix.Close(fd)
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("resolve cgroup id %d: %w", id, err)
	}
	root := filepath.Clean(cgroup2Root)
	rel, ok := strings.CutPrefix(target, root)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		return "", fmt.Errorf("cgroup id %d resolved to %q, outside %s", id, target, root)
	}
	if rel == "" {
		rel = "/"
	}
	return rel, nil
}
