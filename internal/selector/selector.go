// Package selector decides which processes and ports vigil instruments:
// `select` rules narrow instrumentation to what they match, `exclude` rules
// remove what they match (and win). The kernel applies the result; this
// package turns rules about executables, cgroups and containers into the
// per-process and per-port marks the kernel maps hold.
package selector

import (
	"fmt"
	"path"
	"strings"

	"github.com/vigil-dev/vigil/internal/event"
)

// Rules is one side (select or exclude) of a selection. A process or port
// matches when any rule matches it.
type Rules struct {
	// Ports: server connections by local port, client connections by the
	// port they connect to.
	Ports []uint16 `yaml:"ports"`
	// Executables are globs (path.Match: '*' does not cross '/') on the
	// executable: a pattern with a slash matches the full path
	// (/usr/sbin/*), one without matches the base name (nginx, python3*).
	Executables []string `yaml:"executables"`
	// PIDs are process ids.
	PIDs []uint32 `yaml:"pids"`
	// Cgroups are globs on the cgroup v2 path, e.g. /kubepods.slice/*.
	Cgroups []string `yaml:"cgroups"`
	// Containers are container ids or unique prefixes of them.
	Containers []string `yaml:"containers"`
}

func (r Rules) empty() bool {
	return len(r.Ports)+len(r.Executables)+len(r.PIDs)+len(r.Cgroups)+len(r.Containers) == 0
}

// NeedsCgroupPath reports whether matching processes needs their cgroup path.
func (r Rules) needsCgroupPath() bool { return len(r.Cgroups) > 0 }

// Bits mark a process or port in the kernel maps.
type Bits uint8

// Marks, as the kernel defines them (enum sel_bits).
const (
	Select  Bits = 1 << 0
	Exclude Bits = 1 << 1
)

// Selector is a validated selection.
type Selector struct {
	sel, excl Rules
}

// New validates the rules: bad globs and container ids are errors that say
// which rule is wrong.
func New(sel, excl Rules) (*Selector, error) {
	for _, side := range []struct {
		name string
		r    *Rules
	}{{"select", &sel}, {"exclude", &excl}} {
		for _, g := range side.r.Executables {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				return nil, fmt.Errorf("%s.executables: bad glob %q", side.name, g)
			}
		}
		for _, g := range side.r.Cgroups {
			if _, err := path.Match(g, ""); err != nil || !strings.HasPrefix(g, "/") {
				return nil, fmt.Errorf("%s.cgroups: bad glob %q (want an absolute cgroup v2 path pattern)", side.name, g)
			}
		}
		for i, c := range side.r.Containers {
			c = strings.ToLower(c)
			if len(c) < 4 || len(c) > 64 || strings.Trim(c, "0123456789abcdef") != "" {
				return nil, fmt.Errorf("%s.containers: %q is not a container id or a prefix of at least 4 hex digits", side.name, side.r.Containers[i])
			}
			side.r.Containers[i] = c
		}
		for _, p := range side.r.Ports {
			if p == 0 {
				return nil, fmt.Errorf("%s.ports: port 0", side.name)
			}
		}
	}
	return &Selector{sel: sel, excl: excl}, nil
}

// SelectOnly reports whether select rules exist: then only what they match
// is instrumented.
func (s *Selector) SelectOnly() bool { return !s.sel.empty() }

// HasProcessRules reports whether any rule is about processes (not ports):
// only then do processes need marking as they come and go.
func (s *Selector) HasProcessRules() bool {
	n := func(r Rules) int { return len(r.Executables) + len(r.PIDs) + len(r.Cgroups) + len(r.Containers) }
	return n(s.sel)+n(s.excl) > 0
}

// Wanted applies the marks of a process and a port as the kernel does.
func (s *Selector) Wanted(proc, port Bits) bool {
	b := proc | port
	if b&Exclude != 0 {
		return false
	}
	return !s.SelectOnly() || b&Select != 0
}

// NeedsCgroupPath reports whether Process needs the cgroup path.
func (s *Selector) NeedsCgroupPath() bool {
	return s.sel.needsCgroupPath() || s.excl.needsCgroupPath()
}

// Ports returns the marks of every port named by a rule.
func (s *Selector) Ports() map[uint16]Bits {
	out := map[uint16]Bits{}
	for _, p := range s.sel.Ports {
		out[p] |= Select
	}
	for _, p := range s.excl.Ports {
		out[p] |= Exclude
	}
	return out
}

// Process returns the marks of process p (cgroupPath may be empty when
// NeedsCgroupPath is false or it is unknown).
func (s *Selector) Process(p *event.Process, cgroupPath string) Bits {
	var b Bits
	if matches(&s.sel, p, cgroupPath) {
		b |= Select
	}
	if matches(&s.excl, p, cgroupPath) {
		b |= Exclude
	}
	return b
}

func matches(r *Rules, p *event.Process, cgroupPath string) bool {
	for _, pid := range r.PIDs {
		if p.PID == pid {
			return true
		}
	}
	if p.Exe != "" {
		base := path.Base(p.Exe)
		for _, g := range r.Executables {
			subject := base
			if strings.Contains(g, "/") {
				subject = p.Exe
			}
			if ok, _ := path.Match(g, subject); ok {
				return true
			}
		}
	}
	if p.ContainerID != "" {
		for _, c := range r.Containers {
			if strings.HasPrefix(p.ContainerID, c) {
				return true
			}
		}
	}
	if cgroupPath != "" {
		for _, g := range r.Cgroups {
			if ok, _ := path.Match(g, cgroupPath); ok {
				return true
			}
		}
	}
	return false
}
