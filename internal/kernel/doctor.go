package kernel

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Check kinds.
const (
	KindHook   = "hook"
	KindHelper = "helper"
	KindMap    = "map"
	KindKernel = "kernel"
)

// Feature statuses.
const (
	StatusEnabled  = "enabled"
	StatusDegraded = "degraded"
	StatusDisabled = "disabled"
)

// Report is what `vigil doctor` prints. Its JSON form is part of the CLI
// contract.
type Report struct {
	Kernel   string    `json:"kernel"` // uname release
	Checks   []Check   `json:"checks"`
	Features []Feature `json:"features"`
	// CoreOK is true when the "process events" feature, which everything
	// else in vigil builds on, can run.
	CoreOK bool `json:"core_ok"`
}

// Check is the outcome of really loading and attaching one kind of program,
// creating one map type or calling one helper.
type Check struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"` // KindHook, KindHelper, KindMap or KindKernel
	Available bool   `json:"available"`
	// Reason is the error the kernel (or cilium/ebpf) gave when Available is
	// false; when true it may hold a note such as where tracefs is mounted.
	Reason string `json:"reason,omitempty"`
}

// Feature is a vigil capability and whether the checks it depends on passed.
type Feature struct {
	Name     string   `json:"name"`
	Status   string   `json:"status"` // StatusEnabled, StatusDegraded or StatusDisabled
	Reason   string   `json:"reason,omitempty"`
	Requires []string `json:"requires"` // names of the checks it needs
}

const (
	// probeTimeout bounds each probe. Loads and attaches take milliseconds;
	// this only matters when the kernel or a filesystem hangs.
	probeTimeout = 5 * time.Second

	// objectNamePrefix names every program and map doctor creates, so that
	// tests (and users running bpftool meanwhile) can tell them apart.
	// Kernel object names hold at most 15 characters.
	objectNamePrefix = "vd_"

	// Targets that exist on every kernel vigil supports. vfs_read is neither
	// inlined nor notrace, so kprobes and fentry can attach to it wherever
	// those hooks work at all.
	kernelFuncTarget = "vfs_read"
	lsmHookTarget    = "file_open" // cilium/ebpf prepends "bpf_lsm_"

	// uprobeSymbol is entered once, at start-up, before the probe exists,
	// so the probe never fires. That matters: a uretprobe rewrites the
	// return address on entry, which Go's stack unwinding cannot follow.
	uprobeSymbol = "runtime.main"
	selfExe      = "/proc/self/exe"

	// Active LSMs; a BPF LSM program attaches even when "bpf" is missing
	// here, but then it never runs.
	activeLSMsPath = "/sys/kernel/security/lsm"
	bpfStatsSysctl = "/proc/sys/kernel/bpf_stats_enabled"
	kprobePMUPath  = "/sys/bus/event_source/devices/kprobe"
)

// probe is one row of the report. run returns a note for an available
// check, or the error that makes it unavailable.
type probe struct {
	name string
	kind string
	run  func() (note string, err error)
}

// Probe finds out which BPF hooks, helpers and map types work on the running
// kernel by loading and attaching tiny programs, and which vigil features
// follow. Everything it creates is closed before it returns; the only lasting
// change it may make is mounting tracefs, as `vigil run` would.
func Probe(ctx context.Context) *Report {
	r := &Report{Kernel: kernelRelease()}
	for _, p := range probes() {
		r.Checks = append(r.Checks, runProbe(ctx, p, probeTimeout))
	}
	r.Features, r.CoreOK = deriveFeatures(r.Checks)
	return r
}

// probes lists what doctor checks, in report order. tracefs comes first
// because cilium/ebpf looks for it once per process, at the first
// tracepoint, kprobe or uprobe.
func probes() []probe {
	hook := func(name string, run func() error) probe { return probe{name, KindHook, noNote(run)} }
	noted := func(name string, run func() (string, error)) probe { return probe{name, KindHook, run} }
	helper := func(name string, fn asm.BuiltinFunc) probe {
		return probe{name, KindHelper, noNote(func() error { return probeHelper(fn) })}
	}
	return []probe{
		{"tracefs", KindKernel, probeTracefs},
		{"btf", KindKernel, noNote(probeBTF)},
		{"bpf_stats", KindKernel, probeBPFStats},

		hook("tracepoint", probeTracepoint),
		hook("raw_tracepoint", probeRawTracepoint),
		hook("syscall_dispatch", probeSyscallDispatch),
		hook("module_syscalls", probeModuleSyscalls),
		hook("kprobe", func() error { return probeKprobe(false) }),
		hook("kretprobe", func() error { return probeKprobe(true) }),
		hook("fentry", func() error { return probeTracing(ebpf.AttachTraceFEntry) }),
		hook("fexit", func() error { return probeTracing(ebpf.AttachTraceFExit) }),
		noted("lsm", probeLSM),
		noted("uprobe", func() (string, error) { return probeUprobe(false) }),
		noted("uretprobe", func() (string, error) { return probeUprobe(true) }),
		hook("xdp_generic", func() error { return probeXDP(link.XDPGenericMode) }),
		hook("xdp_native", func() error { return probeXDP(link.XDPDriverMode) }),
		hook("tcx", probeTCX),
		hook("cgroup_skb", probeCgroup("cgroup_skb", ebpf.CGroupSKB, ebpf.AttachCGroupInetIngress)),
		hook("cgroup_connect4", probeCgroup("connect4", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Connect)),
		hook("cgroup_connect6", probeCgroup("connect6", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet6Connect)),
		hook("cgroup_sendmsg4", probeCgroup("sendmsg4", ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP4Sendmsg)),
		hook("sock_ops", probeCgroup("sock_ops", ebpf.SockOps, ebpf.AttachCGroupSockOps)),

		{"ringbuf", KindMap, noNote(probeMap("ringbuf", ebpf.RingBuf))},
		{"lru_hash", KindMap, noNote(probeMap("lru_hash", ebpf.LRUHash))},
		{"lpm_trie", KindMap, noNote(func() error { return features.HaveMapType(ebpf.LPMTrie) })},
		{"percpu_array", KindMap, noNote(probeMap("percpu_array", ebpf.PerCPUArray))},
		// Task-local storage needs BTF-described values, which
		// features.HaveMapType knows how to build.
		{"task_storage", KindMap, noNote(func() error { return features.HaveMapType(ebpf.TaskStorage) })},

		helper("probe_read_user", asm.FnProbeReadUser),
		helper("probe_read_kernel", asm.FnProbeReadKernel),
		helper("probe_read_user_str", asm.FnProbeReadUserStr),
		helper("send_signal", asm.FnSendSignal),
		helper("get_current_cgroup_id", asm.FnGetCurrentCgroupId),
		helper("get_current_task_btf", asm.FnGetCurrentTaskBtf),
		helper("ringbuf_output", asm.FnRingbufOutput),
		helper("ringbuf_reserve", asm.FnRingbufReserve),
		helper("ktime_get_ns", asm.FnKtimeGetNs),
		helper("loop", asm.FnLoop),
		helper("task_storage_get", asm.FnTaskStorageGet),
		helper("task_pt_regs", asm.FnTaskPtRegs),
		helper("get_current_pid_tgid", asm.FnGetCurrentPidTgid),
	}
}

// runProbe runs p with a timeout and turns errors and panics into an
// unavailable check: one broken probe must not take the report down.
func runProbe(ctx context.Context, p probe, timeout time.Duration) Check {
	c := Check{Name: p.name, Kind: p.kind}
	if err := ctx.Err(); err != nil {
		c.Reason = fmt.Sprintf("not run: %v", err)
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type result struct {
		note string
		err  error
	}
	// Buffered so that a probe finishing after its timeout can still send
	// and exit; its deferred Close calls run either way.
	done := make(chan result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- result{err: fmt.Errorf("probe panicked: %v", v)}
			}
		}()
		note, err := p.run()
		done <- result{note, err}
	}()

	select {
	case res := <-done:
		c.Available = res.err == nil
		c.Reason = res.note
		if res.err != nil {
			c.Reason = res.err.Error()
		}
	case <-ctx.Done():
		c.Reason = fmt.Sprintf("no answer within %s: %v", timeout, ctx.Err())
	}
	return c
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func probeTracefs() (string, error) {
	p, mounted, err := ensureTracefs()
	if err != nil {
		return "", err
	}
	if mounted {
		return "mounted by vigil at " + p, nil
	}
	return "at " + p, nil
}

func probeBTF() error {
	if _, err := btf.LoadKernelSpec(); err != nil {
		return fmt.Errorf("load kernel BTF: %w", err)
	}
	return nil
}

// probeBPFStats checks that vigil can measure its own programs' run time,
// through BPF_ENABLE_STATS or, failing that, the global sysctl.
func probeBPFStats() (string, error) {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err == nil {
		return "", stats.Close()
	}
	if _, serr := os.Stat(bpfStatsSysctl); serr == nil {
		return fmt.Sprintf("via sysctl kernel.bpf_stats_enabled (BPF_ENABLE_STATS: %v)", err), nil
	}
	return "", fmt.Errorf("BPF_ENABLE_STATS: %w; no %s", err, bpfStatsSysctl)
}

// progSpec describes the smallest valid program of a type: return ret.
type progSpec struct {
	name     string // without objectNamePrefix
	typ      ebpf.ProgramType
	attach   ebpf.AttachType
	attachTo string
	ret      int32
}

// loadAndAttach loads ps, attaches it with attach, then detaches and
// unloads it. The GPL license is required by tracing and LSM programs, and
// vigil's BPF code is GPL-compatible anyway.
func loadAndAttach(ps progSpec, attach func(*ebpf.Program) (link.Link, error)) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         objectNamePrefix + ps.name,
		Type:         ps.typ,
		AttachType:   ps.attach,
		AttachTo:     ps.attachTo,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ps.ret), asm.Return()},
	})
	if err != nil {
		return preciseEPERM(fmt.Sprintf("load %s program", ps.typ), err)
	}
	defer prog.Close()
	l, err := attach(prog)
	if err != nil {
		return err
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	return nil
}

// preciseEPERM drops the "MEMLOCK may be too low" hint cilium/ebpf appends to
// every EPERM from a program load or map create when RLIMIT_MEMLOCK cannot
// be the cause, so that the reason is the kernel's answer and not a guess.
func preciseEPERM(what string, err error) error {
	if errors.Is(err, unix.EPERM) && strings.Contains(err.Error(), "MEMLOCK") && memlockRuledOut() {
		return fmt.Errorf("%s: %w", what, unix.EPERM)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// memlockRuledOut is true when RLIMIT_MEMLOCK does not limit BPF objects:
// since Linux 5.11 they are charged to the memory cgroup instead, and an
// unlimited rlimit cannot be exceeded anyway.
func memlockRuledOut() bool {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil && lim.Cur == unix.RLIM_INFINITY {
		return true
	}
	v, err := features.LinuxVersionCode()
	return err == nil && v >= 5<<16|11<<8
}

// noNote adapts a probe that only passes or fails.
func noNote(run func() error) func() (string, error) {
	return func() (string, error) { return "", run() }
}

func probeTracepoint() error {
	return loadAndAttach(progSpec{name: "tracepoint", typ: ebpf.TracePoint}, func(p *ebpf.Program) (link.Link, error) {
		return link.Tracepoint("syscalls", "sys_enter_getpid", p, nil)
	})
}

// probeModuleSyscalls attaches to finit_module's exit tracepoint, which
// kernels built without module support do not have (nothing can be loaded
// into them, and there is nothing to watch).
func probeModuleSyscalls() error {
	err := loadAndAttach(progSpec{name: "module_tp", typ: ebpf.TracePoint}, func(p *ebpf.Program) (link.Link, error) {
		return link.Tracepoint("syscalls", "sys_exit_finit_module", p, nil)
	})
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("no module syscalls: the kernel is built without module support, nothing can be loaded")
	}
	return err
}

func probeRawTracepoint() error {
	return loadAndAttach(progSpec{name: "raw_tp", typ: ebpf.RawTracepoint}, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_process_exec", Program: p})
	})
}

// probeSyscallDispatch builds what carries every syscall hook of vigil
// (internal/bpfrt, Syscalls): a raw tracepoint on sys_exit whose program
// tail-calls into a program array holding another raw tracepoint program.
func probeSyscallDispatch() error {
	arr, err := ebpf.NewMap(&ebpf.MapSpec{Name: objectNamePrefix + "dispatch", Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return preciseEPERM("create program array", err)
	}
	defer closeUntilGone(arr)
	callee, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: objectNamePrefix + "callee", Type: ebpf.RawTracepoint, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return preciseEPERM("load raw tracepoint program", err)
	}
	defer callee.Close()
	if err := arr.Put(uint32(0), callee); err != nil {
		return fmt.Errorf("put program in array: %w", err)
	}
	dispatch, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: objectNamePrefix + "dispatch", Type: ebpf.RawTracepoint, License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMapPtr(asm.R2, arr.FD()), // r1 is still the context
			asm.Mov.Imm(asm.R3, 0),
			asm.FnTailCall.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		return preciseEPERM("load tail-calling program", err)
	}
	defer dispatch.Close()
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_exit", Program: dispatch})
	if err != nil {
		return fmt.Errorf("attach raw tracepoint sys_exit: %w", err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	return nil
}

// closeUntilGone closes a program array and waits (up to a second) until
// the kernel has freed it, looking by ID walk: opening it by ID while the
// kernel clears it would leak it (bpftest.LeakCheck says more), and
// whoever lists BPF objects after doctor, by opening them, would do that.
func closeUntilGone(m *ebpf.Map) {
	id := ebpf.MapID(0)
	if info, err := m.Info(); err == nil {
		id, _ = info.ID()
	}
	m.Close()
	for deadline := time.Now().Add(time.Second); id != 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !mapIDExists(id) {
			return
		}
	}
}

func mapIDExists(want ebpf.MapID) bool {
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if err != nil || next > want {
			return false
		}
		if next == want {
			return true
		}
		id = next
	}
}

func probeKprobe(ret bool) error {
	name, attach := "kprobe", link.Kprobe
	if ret {
		name, attach = "kretprobe", link.Kretprobe
	}
	err := loadAndAttach(progSpec{name: name, typ: ebpf.Kprobe}, func(p *ebpf.Program) (link.Link, error) {
		return attach(kernelFuncTarget, p, nil)
	})
	if errors.Is(err, os.ErrNotExist) && !kprobesConfigured() {
		// cilium/ebpf's error says the same at length: it tried the PMU,
		// then tracefs, and found neither. A missing symbol is also
		// ErrNotExist, hence the check.
		return errors.New("kprobes not supported by this kernel: no kprobe PMU, no kprobe_events in tracefs")
	}
	return err
}

// kprobesConfigured is true if the kernel offers either way of creating
// kprobes: the perf_kprobe PMU (4.17+) or tracefs kprobe_events.
func kprobesConfigured() bool {
	if _, err := os.Stat(kprobePMUPath); err == nil {
		return true
	}
	tfs, err := EnsureTracefs()
	if err != nil {
		return true // cannot tell; keep the original error
	}
	_, err = os.Stat(filepath.Join(tfs, "kprobe_events"))
	return err == nil
}

// probeTracing covers fentry and fexit. Where they are blocked (lockdown,
// no trampoline support) the load, not the attach, is what fails.
func probeTracing(at ebpf.AttachType) error {
	name := "fentry"
	if at == ebpf.AttachTraceFExit {
		name = "fexit"
	}
	ps := progSpec{name: name, typ: ebpf.Tracing, attach: at, attachTo: kernelFuncTarget}
	return loadAndAttach(ps, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachTracing(link.TracingOptions{Program: p, AttachType: at})
	})
}

func probeLSM() (string, error) {
	ps := progSpec{name: "lsm", typ: ebpf.LSM, attach: ebpf.AttachLSMMac, attachTo: lsmHookTarget}
	err := loadAndAttach(ps, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachLSM(link.LSMOptions{Program: p})
	})
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(activeLSMsPath)
	if err != nil {
		return fmt.Sprintf("attached, but cannot tell whether bpf is an active LSM: %v", err), nil
	}
	active := strings.TrimSpace(string(raw))
	for _, lsm := range strings.Split(active, ",") {
		if lsm == "bpf" {
			return "", nil
		}
	}
	return "", fmt.Errorf("attached, but bpf is not an active LSM (%s): programs would never run; boot with lsm=%s,bpf", active, active)
}

// probeUprobe attaches to this very binary. A release build may be
// stripped, so without a symbol table it falls back to the ELF entry point,
// which like runtime.main is never entered again. Uprobes apply to every
// process mapping the file, so the probe is limited to our own PID: another
// vigil starting meanwhile must not hit it.
func probeUprobe(ret bool) (note string, err error) {
	name := "uprobe"
	if ret {
		name = "uretprobe"
	}
	ex, err := link.OpenExecutable(selfExe)
	if err != nil {
		return "", err
	}
	attach := ex.Uprobe
	if ret {
		attach = ex.Uretprobe
	}
	err = loadAndAttach(progSpec{name: name, typ: ebpf.Kprobe}, func(p *ebpf.Program) (link.Link, error) {
		l, err := attach(uprobeSymbol, p, &link.UprobeOptions{PID: os.Getpid()})
		if !errors.Is(err, link.ErrNoSymbol) {
			return l, err
		}
		off, oerr := entryFileOffset(selfExe)
		if oerr != nil {
			return nil, fmt.Errorf("%w; and no entry point to fall back to: %w", err, oerr)
		}
		note = fmt.Sprintf("no %s symbol, attached at entry point offset %#x", uprobeSymbol, off)
		return attach("", p, &link.UprobeOptions{Address: off, PID: os.Getpid()})
	})
	return note, err
}

// entryFileOffset translates the ELF entry address of path to the file
// offset uprobes are placed at.
func entryFileOffset(path string) (uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open ELF: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && f.Entry >= p.Vaddr && f.Entry < p.Vaddr+p.Memsz {
			return f.Entry - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("entry point %#x is in no executable segment", f.Entry)
}

// probeXDP attaches to the loopback device, the one interface every network
// namespace has. The program passes every packet, so the few microseconds it
// is attached change nothing.
func probeXDP(mode link.XDPAttachFlags) error {
	lo, err := loopback()
	if err != nil {
		return err
	}
	ps := progSpec{name: "xdp", typ: ebpf.XDP, attach: ebpf.AttachXDP, ret: 2 /* XDP_PASS */}
	err = loadAndAttach(ps, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: p, Interface: lo.Index, Flags: mode})
	})
	if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s already has an XDP program, cannot test: %w", lo.Name, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", lo.Name, err)
	}
	return nil
}

func probeTCX() error {
	lo, err := loopback()
	if err != nil {
		return err
	}
	// TC_ACT_UNSPEC, which tcx treats as TCX_NEXT: defer to what follows.
	ps := progSpec{name: "tcx", typ: ebpf.SchedCLS, attach: ebpf.AttachTCXIngress, ret: -1}
	err = loadAndAttach(ps, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachTCX(link.TCXOptions{Program: p, Interface: lo.Index, Attach: ebpf.AttachTCXIngress})
	})
	if err != nil {
		return fmt.Errorf("%s: %w", lo.Name, err)
	}
	return nil
}

func loopback() (*net.Interface, error) {
	// Index 1 in practice, but looked up rather than assumed.
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	for i := range ifaces {
		if ifaces[i].Flags&net.FlagLoopback != 0 {
			return &ifaces[i], nil
		}
	}
	return nil, errors.New("no loopback interface in this network namespace")
}

// probeCgroup attaches to a fresh, empty child cgroup made for the purpose,
// so that no process's traffic ever passes through the probe program. The
// program allows everything (returns 1) regardless.
func probeCgroup(name string, typ ebpf.ProgramType, at ebpf.AttachType) func() error {
	return func() (err error) {
		root, err := Cgroup2Path()
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp(root, "vigil-doctor-")
		if err != nil {
			return fmt.Errorf("create temporary cgroup: %w", err)
		}
		defer func() {
			// Runs after the link is closed; rmdir of an empty cgroup.
			if rerr := os.Remove(dir); rerr != nil && err == nil {
				err = fmt.Errorf("remove temporary cgroup: %w", rerr)
			}
		}()
		return loadAndAttach(progSpec{name: name, typ: typ, attach: at, ret: 1}, func(p *ebpf.Program) (link.Link, error) {
			return link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: at, Program: p})
		})
	}
}

func probeMap(name string, typ ebpf.MapType) func() error {
	return func() error {
		spec := &ebpf.MapSpec{Name: objectNamePrefix + name, Type: typ, KeySize: 4, ValueSize: 4, MaxEntries: 1}
		if typ == ebpf.RingBuf {
			// A ring buffer has no keys or values; its size is a power of
			// two multiple of the page size.
			spec.KeySize, spec.ValueSize, spec.MaxEntries = 0, 0, uint32(os.Getpagesize())
		}
		m, err := ebpf.NewMap(spec)
		if err != nil {
			return preciseEPERM(fmt.Sprintf("create %s map", typ), err)
		}
		return m.Close()
	}
}

// probeHelper asks whether tracepoint programs, vigil's main program type,
// may call fn. features.HaveProgramHelper loads (and closes) a program that
// calls it and reads the verifier's answer.
func probeHelper(fn asm.BuiltinFunc) error {
	if err := features.HaveProgramHelper(ebpf.TracePoint, fn); err != nil {
		return fmt.Errorf("%s from tracepoint programs: %w", fn, err)
	}
	return nil
}

// featureSpec says which checks a vigil feature depends on.
type featureSpec struct {
	name     string
	requires []string // all needed, else disabled
	core     bool     // vigil cannot run usefully without it

	// enhancers make the feature better; without them it is degraded.
	enhancers []string
	degraded  string // what is lost without the enhancers

	// optional marks an extra whose hooks vigil replaces with others: it is
	// degraded while any requirement works, disabled with this reason when
	// none does, and never affects CoreOK.
	optional string
}

func featureSpecs() []featureSpec {
	return []featureSpec{
		{
			name:     "process events",
			requires: []string{"raw_tracepoint", "ringbuf", "probe_read_kernel", "probe_read_user", "btf"},
			core:     true,
		},
		{name: "http observability", requires: []string{"syscall_dispatch", "ringbuf", "probe_read_user", "lru_hash", "get_current_task_btf", "task_pt_regs"}},
		{
			name:     "runtime security (file, network, privilege events and rules)",
			requires: []string{"syscall_dispatch", "raw_tracepoint", "ringbuf", "lpm_trie", "get_current_task_btf", "task_pt_regs", "loop", "probe_read_user_str"},
		},
		{name: "network enforcement (deny connect)", requires: []string{"cgroup_connect4", "cgroup_connect6", "cgroup_sendmsg4"}},
		{name: "process kill enforcement", requires: []string{"send_signal"}},
		{name: "kernel module load events", requires: []string{"module_syscalls"}},
		{
			name:      "xdp firewall",
			requires:  []string{"xdp_generic"},
			enhancers: []string{"xdp_native"},
			degraded:  "generic (skb) mode only, slower than driver mode",
		},
		{name: "tls plaintext via uprobes", requires: []string{"uprobe", "uretprobe"}},
		{
			name:     "faster hooks (kprobe/fentry)",
			requires: []string{"kprobe", "kretprobe", "fentry", "fexit"},
			optional: "optional: vigil uses tracepoints instead",
		},
		{
			name:     "lsm enforcement",
			requires: []string{"lsm"},
			optional: "optional: vigil enforces with cgroup hooks and signals instead",
		},
		{name: "bpf self-stats", requires: []string{"bpf_stats"}},
	}
}

// deriveFeatures maps check results to feature statuses.
func deriveFeatures(checks []Check) ([]Feature, bool) {
	available := make(map[string]bool, len(checks))
	for _, c := range checks {
		available[c.Name] = c.Available
	}
	missing := func(names []string) []string {
		var out []string
		for _, n := range names {
			if !available[n] {
				out = append(out, n)
			}
		}
		return out
	}

	coreOK := true
	var out []Feature
	for _, s := range featureSpecs() {
		f := Feature{Name: s.name, Status: StatusEnabled, Requires: s.requires}
		miss := missing(s.requires)
		switch {
		case s.optional != "" && len(miss) == len(s.requires):
			f.Status, f.Reason = StatusDisabled, s.optional
		case s.optional != "" && len(miss) > 0:
			f.Status, f.Reason = StatusDegraded, "unavailable: "+strings.Join(miss, ", ")
		case len(miss) > 0:
			f.Status, f.Reason = StatusDisabled, "unavailable: "+strings.Join(miss, ", ")
		default:
			if em := missing(s.enhancers); len(em) > 0 {
				f.Status = StatusDegraded
				f.Reason = fmt.Sprintf("%s unavailable: %s", strings.Join(em, ", "), s.degraded)
			}
		}
		if s.core && f.Status == StatusDisabled {
			coreOK = false
		}
		out = append(out, f)
	}
	return out, coreOK
}
