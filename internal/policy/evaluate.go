package policy

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/vigil-dev/vigil/internal/event"
)

// Evaluate returns the rules of mask (the kernel's verdict for ev) that
// still match after the checks only userspace can do: globs and negative
// globs, argv, fstype and conditions. Rules the kernel decides alone pass as
// it said. A failing condition counts as no match (see ConditionErrors).
// It allocates only the result, and a condition's activation when a rule
// has one.
func (p *Program) Evaluate(ev *event.Event, mask uint64) []*Rule {
	mask &= p.all()
	if mask == 0 {
		return nil
	}
	out := make([]*Rule, 0, bits.OnesCount64(mask))
	var act *activation
	for m := mask; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if p.Userspace&(1<<i) != 0 && !p.confirm(i, ev, &act) {
			continue
		}
		out = append(out, p.Rules[i])
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// MatchEvent evaluates every rule against ev entirely in Go: the kernel's
// part as the kernel computes it (KernelMask), then Evaluate's checks. It is
// what the agent uses when the kernel could not decide (a process it did not
// know, a path it could not normalize). Parent executables come from
// ev.Ancestors[0], so the caller fills Ancestors from its process table for
// events of every kind.
func (p *Program) MatchEvent(ev *event.Event) uint64 {
	mask := p.KernelMask(ev)
	var act *activation
	for m := mask & p.Userspace; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if !p.confirm(i, ev, &act) {
			mask &^= 1 << i
		}
	}
	return mask
}

// KernelMask is the mask the kernel computes for ev, from ev's own fields:
// the rules of ev's kind, then process (exe, parent exe), the kind's
// dimensions and the parameter check. The reference for the kernel's tests.
//
// For rename, path and name match the old or the new path. For a connect
// without an IP destination the destination dimensions are Wild.
func (p *Program) KernelMask(ev *event.Event) uint64 {
	cand := p.Kinds[ev.Kind]
	if cand == 0 {
		return 0
	}
	cand &= p.Exe.Match(ev.Process.Exe) & p.ParentExe.Match(parentExe(ev))
	switch ev.Kind {
	case event.KindOpen, event.KindUnlink, event.KindRename, event.KindLink, event.KindSymlink,
		event.KindChmod, event.KindChown, event.KindMount:
		var f event.File
		if ev.File != nil {
			f = *ev.File
		}
		path := p.Path.Match(f.Path)
		name := p.Name.Match(baseName(f.Path))
		if ev.Kind == event.KindRename && f.NewPath != "" {
			path |= p.Path.Match(f.NewPath)
			name |= p.Name.Match(baseName(f.NewPath))
		}
		cand &= path
		if ev.Kind != event.KindMount {
			cand &= name
		}
		if ev.Kind == event.KindLink || ev.Kind == event.KindSymlink {
			cand &= p.Target.Match(f.Target)
		}
	case event.KindConnect:
		cand &= p.destination(ev.Net)
	}
	return p.params(cand, ev)
}

func parentExe(ev *event.Event) string {
	if len(ev.Ancestors) > 0 {
		return ev.Ancestors[0].Exe
	}
	return ""
}

// destination is the destination dimensions' result for a connect.
func (p *Program) destination(n *event.Net) uint64 {
	if n == nil || n.Peer == nil {
		return p.DestV4.Wild
	}
	a, err := netip.ParseAddr(n.Peer.Addr)
	if err != nil {
		return p.DestV4.Wild
	}
	a = a.Unmap()
	d := p.DestV6.Match(a)
	if a.Is4() {
		d = p.DestV4.Match(a)
	}
	return d & p.Ports.Match(n.Peer.Port)
}

// params drops the candidates whose argument check fails.
func (p *Program) params(cand uint64, ev *event.Event) uint64 {
	var arg uint64
	haveArg, ok := false, false
	for m := cand; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if p.Params[i].zero() {
			continue
		}
		if !haveArg {
			arg, ok = eventArg(ev)
			haveArg = true
		}
		if !ok || !p.Params[i].Match(arg) {
			cand &^= 1 << i
		}
	}
	return cand
}

// confirm runs rule i's userspace checks on ev. act is the event's
// condition activation, made on first use and shared by the rules.
func (p *Program) confirm(i int, ev *event.Event, act **activation) bool {
	c := p.compiled[i]
	if !goMatch(c.exe, ev.Process.Exe) || !goMatch(c.parentExe, parentExe(ev)) {
		return false
	}
	if c.path != nil || c.target != nil || c.fstype != nil {
		var f event.File
		if ev.File != nil {
			f = *ev.File
		}
		rename := ev.Kind == event.KindRename && f.NewPath != ""
		if c.path != nil && c.path.needsGo && !c.path.match(f.Path) && !(rename && c.path.match(f.NewPath)) {
			return false
		}
		if !goMatch(c.target, f.Target) || c.fstype != nil && !slices.Contains(c.fstype, f.FSType) {
			return false
		}
	}
	if c.args != nil && !c.args.match(ev.Process.Args) {
		return false
	}
	if c.cond == nil {
		return true
	}
	if *act == nil {
		*act = &activation{ev: ev, s: p.schema}
	}
	out, _, err := c.cond.Eval(*act)
	if err == nil {
		b, isBool := out.Value().(bool)
		if isBool {
			return b
		}
		err = fmt.Errorf("evaluated to %v, not a bool", out)
	}
	p.condErrors.Add(1)
	if c.condErrors.Add(1) == 1 && p.OnConditionError != nil {
		p.OnConditionError(p.Rules[i].Name, err)
	}
	return false
}

// goMatch confirms a selector whose globs the kernel could not check;
// selectors the kernel decided alone pass.
func goMatch(m *strMatcher, s string) bool {
	return m == nil || !m.needsGo || m.match(s)
}

func (p *Program) all() uint64 {
	if len(p.Rules) >= 64 {
		return ^uint64(0)
	}
	return 1<<len(p.Rules) - 1
}

// ProcessMasks are a process's standing for the kernel's process table:
// Exe.Match(exe) for its own rules, ParentExe.Match(exe) for its children's.
func (p *Program) ProcessMasks(exe string) (exeOK, asParent uint64) {
	return p.Exe.Match(exe), p.ParentExe.Match(exe)
}

// NewAlert is the alert event for rule r matching ev: kind alert, ev's time,
// process and ancestors (copied), and ev itself as the triggering event.
// Action is the rule's: a caller whose kernel did not enforce it (the
// record lacks the killed or denied flag) should say alert instead.
func (p *Program) NewAlert(ev *event.Event, r *Rule) *event.Event {
	proc := ev.Process
	proc.Args = slices.Clone(proc.Args)
	tags := slices.Clone(r.Tags)
	if tags == nil {
		tags = []string{}
	}
	return &event.Event{
		Time:      ev.Time,
		Kind:      event.KindAlert,
		Process:   proc,
		Ancestors: cloneAncestors(ev.Ancestors),
		Alert: &event.Alert{
			Rule:        r.Name,
			Severity:    r.Severity,
			Action:      r.Action,
			Tags:        tags,
			Description: r.Description,
			Event:       ev,
		},
	}
}

func cloneAncestors(in []event.Ancestor) []event.Ancestor {
	if in == nil {
		return nil
	}
	out := make([]event.Ancestor, len(in))
	for i, a := range in {
		a.Args = slices.Clone(a.Args)
		out[i] = a
	}
	return out
}
