package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeProc describes one process of a fake procfs tree.
type fakeProc struct {
	pid, ppid  uint32
	comm       string
	uid, gid   uint32
	startTicks uint64
	exe        string   // target of the exe symlink; none when ""
	cwd        string   // target of the cwd symlink; none when ""
	args       []string // written NUL-terminated as cmdline
	cmdline    []byte   // raw cmdline, overrides args when not nil
	environ    []string // environ entries; no environ file when nil
	cgroup     string   // content of the cgroup file
}

// writeFakeProc writes p as <root>/<pid>/ with the files ReadProcess reads,
// formatted as the kernel formats them.
func writeFakeProc(t *testing.T, root string, p fakeProc) {
	t.Helper()
	dir := filepath.Join(root, strconv.FormatUint(uint64(p.pid), 10))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Fields 3..24 of proc(5); starttime is field 22.
	write("stat", fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194304 120 0 0 0 3 1 0 0 20 0 1 0 %d 8601600 512 18446744073709551615\n",
		p.pid, p.comm, p.ppid, p.pid, p.pid, p.startTicks))
	// Effective, saved and fs ids differ from the real ones so that a
	// parser reading the wrong column fails.
	write("status", fmt.Sprintf("Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n"+
		"Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nFDSize:\t64\nGroups:\t\n",
		p.comm, p.pid, p.pid, p.ppid, p.uid, p.uid+1, p.uid+2, p.uid+3, p.gid, p.gid+1, p.gid+2, p.gid+3))
	cmdline := p.cmdline
	if cmdline == nil && len(p.args) > 0 {
		cmdline = []byte(strings.Join(p.args, "\x00") + "\x00")
	}
	write("cmdline", string(cmdline))
	write("cgroup", p.cgroup)
	if p.environ != nil {
		write("environ", strings.Join(p.environ, "\x00")+"\x00")
	}
	if p.exe != "" {
		if err := os.Symlink(p.exe, filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
	}
	if p.cwd != "" {
		if err := os.Symlink(p.cwd, filepath.Join(dir, "cwd")); err != nil {
			t.Fatal(err)
		}
	}
}

// cgroupV2 is the content of /proc/<pid>/cgroup on a pure cgroup v2 host.
func cgroupV2(path string) string { return "0::" + path + "\n" }
