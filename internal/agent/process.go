package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/proc"
	"github.com/vigil-dev/vigil/internal/selector"
	"github.com/vigil-dev/vigil/internal/sensors/process"
	"github.com/vigil-dev/vigil/internal/sensors/sockdata"
)

// trackProcess keeps the process table in step with the kernel and
// enriches the event from it: an exec gets its lineage.
func (a *Agent) trackProcess(rec *process.Record) {
	ev := &rec.Event
	p := &ev.Process
	switch ev.Kind {
	case event.KindExec:
		if rec.ExeTruncated {
			// The kernel's walk stopped short of the root: /proc has the
			// whole path, and the rules left the executable to us.
			if exe, err := os.Readlink(filepath.Join(proc.DefaultProcRoot, strconv.FormatUint(uint64(p.PID), 10), "exe")); err == nil {
				p.Exe = exe
			}
		}
		a.table.ExecInCgroup(*p, rec.StartNs, rec.CgroupV1ID)
		a.table.Fill(p)
		ev.Ancestors = a.table.Ancestors(p.PID, a.opts.MaxAncestors)
	case event.KindFork:
		a.table.Fill(p)
		a.table.Fork(p.PID, ev.Fork.ChildPID, rec.StartNs)
	case event.KindExit:
		a.table.Fill(p)
		a.table.Exit(p.PID, bpfrt.BootNow())
	}
}

// httpSelection applies the HTTP selector's process rules in the kernel:
// the socket sensor tracks only the connections of selected processes,
// or of all but the excluded ones. Processes are marked as they exec (and
// their forked workers with them) and unmarked when they exit.
type httpSelection struct {
	sock    *sockdata.Sensor
	sel     *selector.Selector
	table   *proc.Table
	cgroup2 string
	log     *slog.Logger
}

// startSelection marks the processes and ports the selector names, then
// seeds the sensor with the connections open before it attached, of the
// processes and ports it wants, except self's (0: none is left out), when
// seed (/proc is the node's, so its pids are the kernel's). It returns nil
// when the selector has no process rules: then nothing needs following.
func startSelection(sock *sockdata.Sensor, sel *selector.Selector, table *proc.Table, cgroup2 string, self uint32, seed bool, log *slog.Logger) (*httpSelection, error) {
	ports := sel.Ports()
	for port, bits := range ports {
		if err := sock.SetPort(port, uint8(bits)); err != nil {
			return nil, err
		}
	}
	var s *httpSelection
	marks := map[uint32]selector.Bits{}
	if sel.HasProcessRules() {
		s = &httpSelection{sock: sock, sel: sel, table: table, cgroup2: cgroup2, log: log}
		for _, p := range table.Processes() {
			marks[p.PID] = s.mark(&p)
		}
	}
	if !seed {
		return s, nil
	}
	n, err := sock.Seed(proc.DefaultProcRoot, func(pid uint32, port uint16) bool {
		return (self == 0 || pid != self) && sel.Wanted(marks[pid], ports[port])
	})
	if err != nil {
		log.Warn("seeding existing connections was incomplete", "error", err)
	}
	log.Debug("seeded existing TCP connections", "count", n)
	return s, nil
}

// follow keeps the marks in step with a process record. A nil selection
// follows nothing.
func (s *httpSelection) follow(rec *process.Record) {
	if s == nil {
		return
	}
	p := &rec.Event.Process
	switch rec.Event.Kind {
	case event.KindExec:
		s.mark(p)
	case event.KindFork:
		if child, ok := s.table.Lookup(rec.Event.Fork.ChildPID); ok {
			s.mark(&child) // a forked worker is what its parent was
		}
	case event.KindExit:
		if err := s.sock.SetProcess(p.PID, 0); err != nil {
			s.log.Debug("unmarking exited process", "error", err)
		}
	}
}

// mark applies the selection to process p in the kernel and returns its
// marks.
func (s *httpSelection) mark(p *event.Process) selector.Bits {
	cgroupPath := ""
	if s.sel.NeedsCgroupPath() && s.cgroup2 != "" && p.CgroupID != 0 {
		cgroupPath, _ = proc.CgroupPathByID(s.cgroup2, p.CgroupID)
	}
	bits := s.sel.Process(p, cgroupPath)
	if err := s.sock.SetProcess(p.PID, uint8(bits)); err != nil {
		s.log.Warn("marking process for HTTP selection", "pid", p.PID, "error", err)
	}
	return bits
}
