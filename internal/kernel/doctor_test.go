package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

// TestProbe asserts that doctor tells the truth: what vigil's core needs is
// available on every kernel vigil supports (and on CI's), and optional hooks
// are reported as the kernel's own configuration says.
func TestProbe(t *testing.T) {
	bpftest.Require(t)

	before, err := doctorObjects()
	if err != nil {
		t.Fatal(err)
	}

	r := Probe(context.Background())

	if r.Kernel == "" || r.Kernel == "unknown" {
		t.Errorf("kernel release %q", r.Kernel)
	}
	checks := make(map[string]Check, len(r.Checks))
	for _, c := range r.Checks {
		t.Logf("%-22s %-6s %-5v %s", c.Name, c.Kind, c.Available, c.Reason)
		if _, dup := checks[c.Name]; dup {
			t.Errorf("check %s reported twice", c.Name)
		}
		checks[c.Name] = c
		if !c.Available && c.Reason == "" {
			t.Errorf("check %s unavailable without a reason", c.Name)
		}
	}
	for _, f := range r.Features {
		t.Logf("feature %-36s %-8s %s", f.Name, f.Status, f.Reason)
	}

	for _, name := range []string{"btf", "tracefs", "tracepoint", "raw_tracepoint", "syscall_dispatch", "uprobe", "uretprobe", "xdp_generic", "tcx", "ringbuf", "lru_hash", "percpu_array", "cgroup_skb", "cgroup_connect4", "cgroup_connect6", "cgroup_sendmsg4", "sock_ops", "probe_read_user", "probe_read_kernel", "send_signal", "get_current_cgroup_id", "task_storage", "task_storage_get", "lpm_trie", "task_pt_regs", "get_current_pid_tgid", "loop"} {
		if c, ok := checks[name]; !ok {
			t.Errorf("no %s check", name)
		} else if !c.Available {
			t.Errorf("%s unavailable (%s), want available on this kernel", name, c.Reason)
		}
	}
	// Ground truth for the optional hooks, read independently of the probes.
	_, pmuErr := os.Stat("/sys/bus/event_source/devices/kprobe")
	haveKprobes := pmuErr == nil
	lsms, _ := os.ReadFile("/sys/kernel/security/lsm")
	haveBPFLSM := strings.Contains(","+strings.TrimSpace(string(lsms))+",", ",bpf,")
	for name, want := range map[string]bool{"kprobe": haveKprobes, "kretprobe": haveKprobes} {
		if c := checks[name]; c.Available != want {
			t.Errorf("%s: available=%v, but the kprobe PMU exists=%v", name, c.Available, want)
		}
	}
	if c := checks["lsm"]; c.Available && !haveBPFLSM {
		t.Errorf("lsm available, but bpf is not in /sys/kernel/security/lsm (%q)", lsms)
	}
	for _, name := range []string{"fentry", "fexit", "lsm"} {
		if _, ok := checks[name]; !ok {
			t.Errorf("no %s check", name)
		}
	}
	if !r.CoreOK {
		t.Error("CoreOK false, want true")
	}

	leaked, err := waitForLeaks(before, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaked {
		t.Errorf("left in the kernel after Probe: %s", l)
	}
}

func TestProbeCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Nothing runs, so this needs no privileges.
	r := Probe(ctx)
	if r.CoreOK {
		t.Error("CoreOK true although no probe ran")
	}
	for _, c := range r.Checks {
		if c.Available || !strings.Contains(c.Reason, "context canceled") {
			t.Errorf("%s: available=%v reason=%q", c.Name, c.Available, c.Reason)
		}
	}
}

func TestRunProbeFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func() (string, error)
		want Check
	}{
		{"ok", func() (string, error) { return "note", nil }, Check{Name: "ok", Kind: KindHook, Available: true, Reason: "note"}},
		{"err", func() (string, error) { return "", errors.New("operation not permitted") }, Check{Name: "err", Kind: KindHook, Reason: "operation not permitted"}},
		{"panic", func() (string, error) { panic("boom") }, Check{Name: "panic", Kind: KindHook, Reason: "probe panicked: boom"}},
		{"hang", func() (string, error) { time.Sleep(time.Second); return "", nil }, Check{Name: "hang", Kind: KindHook, Reason: "no answer within 10ms: context deadline exceeded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runProbe(ctx, probe{tc.name, KindHook, tc.run}, 10*time.Millisecond)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDeriveFeatures(t *testing.T) {
	all := func(except ...string) []Check {
		var cs []Check
		for _, p := range probes() {
			cs = append(cs, Check{Name: p.name, Kind: p.kind, Available: true})
		}
		for i := range cs {
			for _, e := range except {
				if cs[i].Name == e {
					cs[i].Available, cs[i].Reason = false, "operation not permitted"
				}
			}
		}
		return cs
	}
	status := func(fs []Feature) map[string]Feature {
		m := make(map[string]Feature)
		for _, f := range fs {
			m[f.Name] = f
		}
		return m
	}

	fs, core := deriveFeatures(all())
	if !core {
		t.Error("everything available but CoreOK false")
	}
	for _, f := range fs {
		if f.Status != StatusEnabled {
			t.Errorf("everything available but %s is %s (%s)", f.Name, f.Status, f.Reason)
		}
	}

	// This project's CI kernel.
	fs, core = deriveFeatures(all("kprobe", "kretprobe", "fentry", "fexit", "lsm", "xdp_native"))
	if !core {
		t.Error("optional hooks missing made CoreOK false")
	}
	got := status(fs)
	for name, want := range map[string]Feature{
		"faster hooks (kprobe/fentry)": {Status: StatusDisabled, Reason: "optional: vigil uses tracepoints instead"},
		"lsm enforcement":              {Status: StatusDisabled, Reason: "optional: vigil enforces with cgroup hooks and signals instead"},
		"xdp firewall":                 {Status: StatusDegraded, Reason: "xdp_native unavailable: generic (skb) mode only, slower than driver mode"},
		"process events":               {Status: StatusEnabled},
	} {
		if got[name].Status != want.Status || got[name].Reason != want.Reason {
			t.Errorf("%s = %s %q, want %s %q", name, got[name].Status, got[name].Reason, want.Status, want.Reason)
		}
	}

	fs, _ = deriveFeatures(all("fentry", "fexit"))
	if f := status(fs)["faster hooks (kprobe/fentry)"]; f.Status != StatusDegraded || f.Reason != "unavailable: fentry, fexit" {
		t.Errorf("kprobes without fentry: %+v", f)
	}

	fs, core = deriveFeatures(all("ringbuf", "send_signal"))
	if core {
		t.Error("no ring buffer but CoreOK true")
	}
	got = status(fs)
	if f := got["process events"]; f.Status != StatusDisabled || f.Reason != "unavailable: ringbuf" {
		t.Errorf("process events without ringbuf: %+v", f)
	}
	if f := got["process kill enforcement"]; f.Status != StatusDisabled {
		t.Errorf("kill enforcement without send_signal: %+v", f)
	}

	// Every syscall hook goes through the dispatcher.
	got = status(func() []Feature { fs, _ := deriveFeatures(all("syscall_dispatch")); return fs }())
	for _, name := range []string{"http observability", "runtime security (file, network, privilege events and rules)"} {
		if f := got[name]; f.Status != StatusDisabled || f.Reason != "unavailable: syscall_dispatch" {
			t.Errorf("%s without the syscall dispatcher: %+v", name, f)
		}
	}
	if f := got["process events"]; f.Status != StatusEnabled {
		t.Errorf("process events need no syscall hook: %+v", f)
	}

	// A check name a feature needs but no probe reported counts as missing.
	if _, core := deriveFeatures(nil); core {
		t.Error("no checks but CoreOK true")
	}
}

// doctorObjects lists the programs, links and maps in the kernel that
// doctor created, recognised by objectNamePrefix. Other tests on the same
// machine may load programs meanwhile; only ours count.
func doctorObjects() (map[string]bool, error) {
	objs := make(map[string]bool)

	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("next program ID after %d: %w", id, err)
		}
		id = next
		name, err := programName(id)
		if errors.Is(err, os.ErrNotExist) {
			continue // unloaded since we saw its ID
		}
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(name, objectNamePrefix) {
			objs[fmt.Sprintf("program %d %s", id, name)] = true
		}
	}

	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("next map ID after %d: %w", id, err)
		}
		id = next
		m, err := ebpf.NewMapFromID(id)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open map %d: %w", id, err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			return nil, fmt.Errorf("map %d info: %w", id, err)
		}
		if strings.HasPrefix(info.Name, objectNamePrefix) {
			objs[fmt.Sprintf("map %d %s", id, info.Name)] = true
		}
	}

	// A link keeps its program loaded, so the program scan finds leaked
	// links too; listing them separately says what was left attached.
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			return nil, fmt.Errorf("link %d info: %w", it.ID, err)
		}
		name, err := programName(info.Program)
		if err != nil {
			continue
		}
		if strings.HasPrefix(name, objectNamePrefix) {
			objs[fmt.Sprintf("link %d (type %d) of program %s", it.ID, info.Type, name)] = true
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return objs, nil
}

func programName(id ebpf.ProgramID) (string, error) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return "", fmt.Errorf("open program %d: %w", id, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return "", fmt.Errorf("program %d info: %w", id, err)
	}
	return info.Name, nil
}

// waitForLeaks returns the doctor objects not in before. The kernel frees
// some objects asynchronously (RCU, deferred perf event teardown), so it
// polls briefly before calling anything a leak.
func waitForLeaks(before map[string]bool, wait time.Duration) ([]string, error) {
	deadline := time.Now().Add(wait)
	for {
		after, err := doctorObjects()
		if err != nil {
			return nil, err
		}
		var leaked []string
		for o := range after {
			if !before[o] {
				leaked = append(leaked, o)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEntryFileOffset covers the uprobe fallback for stripped binaries,
// whichever way this test binary was linked.
func TestEntryFileOffset(t *testing.T) {
	off, err := entryFileOffset(selfExe)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(selfExe)
	if err != nil {
		t.Fatal(err)
	}
	if off == 0 || int64(off) >= fi.Size() {
		t.Errorf("entry offset %#x outside the %d-byte file", off, fi.Size())
	}
	if _, err := entryFileOffset("/proc/self/status"); err == nil {
		t.Error("no error for a file that is not ELF")
	}
}
