package kernel

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// Hybrid v1/v2 layout, as on this project's CI machine and older systemd
// distributions: cgroup2 lives at /sys/fs/cgroup/unified.
const hybridMountinfo = `22 28 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
23 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 23 0:13 / /sys/kernel/tracing rw,relatime - tracefs tracefs rw
43 23 0:39 / /sys/fs/bpf rw,relatime - bpf bpf rw
`

// Pure v2, as on Ubuntu 24.04 and most Kubernetes nodes. Optional fields
// vary in number (none, one, two) before the "-" separator.
const pureV2Mountinfo = `24 31 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 31 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
31 1 252:1 / / rw,relatime shared:1 - ext4 /dev/mapper/ubuntu--vg-ubuntu--lv rw
34 24 0:29 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
36 24 0:31 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:11 - bpf bpf rw,mode=700
44 24 0:12 / /sys/kernel/debug rw,nosuid,nodev,noexec,relatime shared:16 - debugfs debugfs rw
46 44 0:13 / /sys/kernel/debug/tracing rw,nosuid,nodev,noexec,relatime master:3 propagate_from:1 - tracefs tracefs rw
`

func TestParseMountinfoHybrid(t *testing.T) {
	mounts, err := ParseMountinfo(strings.NewReader(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 9 {
		t.Fatalf("got %d mounts, want 9", len(mounts))
	}
	want := Mount{
		ID: 41, Parent: 31, Root: "/", MountPoint: "/sys/fs/cgroup/unified",
		FSType: "cgroup2", Source: "cgroup2", Options: "rw,relatime", SuperOptions: "rw",
	}
	if mounts[6] != want {
		t.Errorf("mounts[6] = %+v, want %+v", mounts[6], want)
	}
	if got, _ := findMount(mounts, "cgroup2"); got != "/sys/fs/cgroup/unified" {
		t.Errorf("cgroup2 at %q, want /sys/fs/cgroup/unified", got)
	}
	// The tmpfs at /sys/fs/cgroup must not be taken for cgroup2.
	if got, _ := findMount(mounts, "cgroup"); got != "/sys/fs/cgroup/cpu" {
		t.Errorf("first cgroup v1 at %q, want /sys/fs/cgroup/cpu", got)
	}
	if mounts[5].SuperOptions != "rw,xattr,name=systemd" {
		t.Errorf("super options %q", mounts[5].SuperOptions)
	}
}

func TestParseMountinfoPureV2(t *testing.T) {
	mounts, err := ParseMountinfo(strings.NewReader(pureV2Mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := findMount(mounts, "cgroup2"); got != "/sys/fs/cgroup" {
		t.Errorf("cgroup2 at %q, want /sys/fs/cgroup", got)
	}
	if _, err := findMount(mounts, "cgroup"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cgroup v1 lookup: err = %v, want fs.ErrNotExist", err)
	}
	last := mounts[len(mounts)-1]
	if last.FSType != "tracefs" || last.Source != "tracefs" || last.Parent != 44 {
		t.Errorf("line with two optional fields parsed as %+v", last)
	}
}

func TestParseMountinfoEscapes(t *testing.T) {
	const text = `100 28 0:50 /data\040dir /mnt/my\040disk\011tab rw,relatime shared:40 - fuse.sshfs user@host:/srv\134x rw
101 28 0:51 / /mnt/- rw - tmpfs tmpfs rw
102 28 0:52 / /mnt/odd\9\04 rw - tmpfs none rw
`
	mounts, err := ParseMountinfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	m := mounts[0]
	if m.Root != "/data dir" || m.MountPoint != "/mnt/my disk\ttab" || m.Source != `user@host:/srv\x` || m.FSType != "fuse.sshfs" {
		t.Errorf("escaped line parsed as %+v", m)
	}
	if mounts[1].MountPoint != "/mnt/-" || mounts[1].FSType != "tmpfs" {
		t.Errorf("mount point named like the separator parsed as %+v", mounts[1])
	}
	// Backslashes not followed by three octal digits are kept literally.
	if mounts[2].MountPoint != `/mnt/odd\9\04` {
		t.Errorf("invalid escapes parsed as %q", mounts[2].MountPoint)
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for name, text := range map[string]string{
		"no separator": "22 28 0:20 / /proc rw,nosuid shared:12 proc proc rw\n",
		"no source":    "22 28 0:20 / /proc rw - proc\n",
		"bad id":       "x 28 0:20 / /proc rw - proc proc rw\n",
		"bad parent":   "22 y 0:20 / /proc rw - proc proc rw\n",
		"truncated":    "22 28 0:20 /\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMountinfo(strings.NewReader(hybridMountinfo + text))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "line 10") {
				t.Errorf("error %q does not name line 10", err)
			}
		})
	}
}

func TestParseMountinfoEmpty(t *testing.T) {
	mounts, err := ParseMountinfo(strings.NewReader("\n"))
	if err != nil || len(mounts) != 0 {
		t.Fatalf("got %v, %v; want no mounts and no error", mounts, err)
	}
}

func TestPickMount(t *testing.T) {
	hybrid, err := ParseMountinfo(strings.NewReader(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	pure, err := ParseMountinfo(strings.NewReader(pureV2Mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := ParseMountinfo(strings.NewReader(
		"50 28 0:40 / /run/tracing rw - tracefs tracefs rw\n51 28 0:41 / /run/bpf rw - bpf bpf rw\n"))
	if err != nil {
		t.Fatal(err)
	}
	tracefsPrefs := []string{tracefsPath, debugTracefsPath}

	for _, tc := range []struct {
		name   string
		mounts []Mount
		fstype string
		prefs  []string
		anyOK  bool
		want   string
		wantOK bool
	}{
		{"tracefs canonical", hybrid, "tracefs", tracefsPrefs, false, tracefsPath, true},
		{"tracefs under debugfs", pure, "tracefs", tracefsPrefs, false, debugTracefsPath, true},
		{"tracefs elsewhere is unusable", elsewhere, "tracefs", tracefsPrefs, false, "", false},
		{"bpffs canonical", pure, "bpf", []string{bpffsPath}, true, bpffsPath, true},
		{"bpffs elsewhere is fine", elsewhere, "bpf", []string{bpffsPath}, true, "/run/bpf", true},
		{"nothing mounted", nil, "bpf", []string{bpffsPath}, true, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := pickMount(tc.mounts, tc.fstype, tc.prefs, tc.anyOK)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("pickMount = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestLiveMounts reads this machine's mount table. The Ensure functions only
// mount when nothing is mounted, which a shared test machine should not see;
// if it happens, the mount they make is the one vigil would make anyway.
func TestLiveMounts(t *testing.T) {
	if _, err := os.Stat(mountinfoPath); err != nil {
		t.Skipf("no %s: %v", mountinfoPath, err)
	}
	if _, err := readMounts(); err != nil {
		t.Fatal(err)
	}
	if p, err := Cgroup2Path(); err != nil {
		t.Logf("cgroup2: %v", err)
	} else if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		t.Errorf("cgroup2 path %q is not a directory: %v", p, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot mount tracefs or bpffs if they are missing")
	}
	for name, ensure := range map[string]func() (string, error){
		"tracefs": EnsureTracefs,
		"bpffs":   EnsureBPFFS,
	} {
		p, err := ensure()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		t.Logf("%s at %s", name, p)
	}
}
