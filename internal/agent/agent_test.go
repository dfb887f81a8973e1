package agent_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/agent"
	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/kernel"
)

func TestLineageAndServiceName(t *testing.T) {
	rec := agenttest.StartAgent(t, agent.Options{})
	marker := fmt.Sprintf("lineage-%d", time.Now().UnixNano())
	// outer sh starts inner sh, which prints its own pid and exits 5. The
	// inner one lives long enough for its environment to be read from /proc
	// (see docs/events.md on service names of very short-lived processes).
	cmd := exec.Command("/bin/sh", "-c", `/bin/sh -c 'echo $$; sleep 0.3; exit 5' inner; true`, marker)
	cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME=checkout")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var inner uint32
	if _, err := fmt.Sscan(string(out), &inner); err != nil {
		t.Fatalf("inner pid from %q: %v", out, err)
	}
	outer := uint32(cmd.Process.Pid)

	ex := agenttest.WaitEvent(t, rec, event.KindExec, inner)
	var chain []uint32
	for _, a := range ex.Ancestors {
		chain = append(chain, a.PID)
	}
	if len(chain) < 2 || chain[0] != outer || chain[1] != uint32(os.Getpid()) {
		t.Errorf("ancestors of inner sh: want [%d %d ...], got %v", outer, os.Getpid(), chain)
	}
	if a := ex.Ancestors[0]; !slices.Equal(a.Args, cmd.Args) {
		t.Errorf("outer ancestor args: want %q, got %q", cmd.Args, a.Args)
	}
	if ex.Process.Service != "checkout" {
		t.Errorf("service: want OTEL_SERVICE_NAME checkout, got %q", ex.Process.Service)
	}
	x := agenttest.WaitEvent(t, rec, event.KindExit, inner)
	if x.Exit.ExitCode != 5 || !slices.Equal(x.Process.Args, ex.Process.Args) || x.Process.Exe != ex.Process.Exe {
		t.Errorf("exit of inner: code %d, args %q exe %q (exec had %q %q)", x.Exit.ExitCode, x.Process.Args, x.Process.Exe, ex.Process.Args, ex.Process.Exe)
	}
}

func TestContainerIDFromCgroup(t *testing.T) {
	rec := agenttest.StartAgent(t, agent.Options{})
	root, err := kernel.Cgroup2Path()
	if err != nil {
		bpftest.SkipOrFail(t, "no cgroup v2 mount: "+err.Error())
	}
	const id = "4a5f8f7c0e3b2d1a9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d"
	dir := filepath.Join(root, "vigil-test-docker-"+id[:8]+".slice", "docker-"+id+".scope")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(dir)
		os.Remove(filepath.Dir(dir))
	})
	// The shell moves itself into the "container" cgroup, then execs.
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec /bin/true in-container`, "sh", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	pid := uint32(cmd.Process.Pid)
	ex := agenttest.WaitFor(t, rec, "exec of /bin/true in the container", func(e *event.Event) bool {
		return e.Kind == event.KindExec && e.Process.PID == pid && e.Process.Args[0] == "/bin/true"
	})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ino := fi.Sys().(*syscall.Stat_t).Ino; ex.Process.CgroupID != ino {
		t.Errorf("cgroup_id: want the directory's inode %d, got %d", ino, ex.Process.CgroupID)
	}
	if ex.Process.ContainerID != id {
		t.Errorf("container_id: want %s, got %q", id, ex.Process.ContainerID)
	}
}
