package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"cel.dev/cel-go/cel"

	"github.com/vigil-dev/vigil/internal/event"
)

// Program is a compiled rule set: the kernel's tables, and what userspace
// needs to confirm the kernel's matches. Rule i has bit 1<<i everywhere.
// Programs come from Compile; one is safe for concurrent use.
type Program struct {
	Rules []*Rule
	// Kinds are the rules of each event kind.
	Kinds map[event.Kind]uint64
	// Kill and Deny are the rules with those actions.
	Kill, Deny uint64
	// Userspace are the rules the kernel over-approximates: their matches
	// need Evaluate's confirmation.
	Userspace uint64

	Exe, ParentExe, Path, Target Dimension
	Name                         NameDimension
	// DestV4 and DestV6 share one Wild (see CIDRDimension).
	DestV4, DestV6 CIDRDimension
	Ports          PortDimension
	// Params are the rules' argument checks, by rule index.
	Params [MaxRules]Param

	compiled   []*compiledRule
	schema     *schema
	condErrors atomic.Uint64

	// OnConditionError, when set (before the first Evaluate), is called
	// with the first evaluation error of each rule's condition, so that a
	// condition that can never work is said once, not only counted.
	OnConditionError func(rule string, err error)
}

// Compile compiles the enabled rules, in order (the i-th enabled rule gets
// bit i). It validates them again, since Rules can be built or edited by
// hand, and fails when a kernel table would overflow.
func Compile(rules []*Rule) (*Program, error) {
	p := &Program{Kinds: map[event.Kind]uint64{}, schema: newSchema()}
	var env *cel.Env
	b := newBuilders()
	names := map[string]bool{}
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		if names[r.Name] {
			return nil, &Error{File: r.Source, Line: r.Line, Rule: r.Name, Reason: "duplicate rule name"}
		}
		names[r.Name] = true
		i := len(p.Rules)
		if i == MaxRules {
			return nil, &Error{File: r.Source, Line: r.Line, Rule: r.Name,
				Reason: fmt.Sprintf("more than %d enabled rules: vigil evaluates at most %d rules in the kernel", MaxRules, MaxRules)}
		}
		if r.Condition != "" && env == nil {
			var err error
			if env, err = newCELEnv(p.schema); err != nil {
				return nil, err
			}
		}
		c := &errs{file: r.Source}
		cr := checkRule(r, env, c.rule(r.Name, r.Line))
		if cr == nil {
			return nil, errors.Join(c.list...)
		}
		bit := uint64(1) << i
		p.Rules = append(p.Rules, r)
		p.compiled = append(p.compiled, cr)
		for _, k := range r.Events {
			p.Kinds[k] |= bit
		}
		switch r.Action {
		case event.ActionKill:
			p.Kill |= bit
		case event.ActionDeny:
			p.Deny |= bit
		}
		if cr.userspace {
			p.Userspace |= bit
		}
		p.Params[i] = cr.param
		if dim := b.add(r, cr, bit); dim != "" {
			return nil, &Error{File: r.Source, Line: r.Line, Rule: r.Name,
				Reason: fmt.Sprintf("the kernel's %s table would have more than %d entries", dim, MaxEntries)}
		}
	}
	b.build(p)
	return p, nil
}

// builders accumulate the kernel tables.
type builders struct {
	exe, parentExe, path, target strBuilder
	name                         NameDimension
	destWild                     uint64
	v4, v6                       cidrBuilder
	ports                        portBuilder
}

func newBuilders() *builders {
	return &builders{name: NameDimension{Entries: map[string]Masks{}}}
}

// add enters rule r's kernel patterns, returning the name of a table that
// overflowed ("" if none did).
func (b *builders) add(r *Rule, cr *compiledRule, bit uint64) string {
	m := &r.Match
	for _, d := range []struct {
		name string
		sel  *StringSelector
		b    *strBuilder
	}{{"exe", m.Exe, &b.exe}, {"parent_exe", m.ParentExe, &b.parentExe}, {"path", m.Path, &b.path}, {"target", m.Target, &b.target}} {
		addStr(d.b, d.sel, bit)
		if len(d.b.entries) > MaxEntries {
			return d.name
		}
	}
	if s := m.Name; s == nil || len(s.Exact) == 0 {
		b.name.Wild |= bit
	}
	if s := m.Name; s != nil {
		for _, n := range s.Exact {
			addMask(b.name.Entries, n, false, bit)
		}
		for _, n := range s.NotIn {
			addMask(b.name.Entries, n, true, bit)
		}
		if len(b.name.Entries) > MaxEntries {
			return "name"
		}
	}
	if m.Destination == nil {
		b.destWild |= bit
		b.ports.wild |= bit
		return ""
	}
	pos := cr.destPos
	if len(pos) == 0 {
		// Every IP destination, and only IP ones (see CIDRDimension).
		pos = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	for _, list := range []struct {
		l   []netip.Prefix
		neg bool
	}{{pos, false}, {cr.destNeg, true}} {
		for _, pfx := range list.l {
			if pfx.Addr().Is4() {
				b.v4.add(pfx, list.neg, bit)
			} else {
				b.v6.add(pfx, list.neg, bit)
			}
		}
	}
	if len(b.v4.entries) > MaxEntries || len(b.v6.entries) > MaxEntries {
		return "destination"
	}
	if len(cr.ports) == 0 {
		b.ports.wild |= bit
	}
	for _, port := range cr.ports {
		b.ports.add(port, false, bit)
	}
	for _, port := range cr.notPorts {
		b.ports.add(port, true, bit)
	}
	if len(b.ports.entries) > MaxEntries {
		return "port"
	}
	return ""
}

// addStr enters a string selector: exact and prefix patterns as such, a
// positive glob as a prefix entry of its literal prefix (confirmed in
// userspace), negative globs not at all (userspace only). A rule without a
// positive pattern is wild.
func addStr(b *strBuilder, s *StringSelector, bit uint64) {
	if s == nil || !s.positive() {
		b.wild |= bit
	}
	if s == nil {
		return
	}
	for _, v := range s.Exact {
		b.add(v, true, false, bit)
	}
	for _, v := range s.Prefix {
		b.add(v, false, false, bit)
	}
	for _, v := range s.Glob {
		lp := literalPrefix(v)
		if len(lp) > maxPrefixLen {
			lp = lp[:maxPrefixLen] // a shorter prefix still over-approximates
		}
		b.add(lp, false, false, bit)
	}
	for _, v := range s.NotIn {
		b.add(v, true, true, bit)
	}
	for _, v := range s.NotPrefix {
		b.add(v, false, true, bit)
	}
}

func (b *builders) build(p *Program) {
	p.Exe = b.exe.build()
	p.ParentExe = b.parentExe.build()
	p.Path = b.path.build()
	p.Target = b.target.build()
	p.Name = b.name
	p.DestV4 = b.v4.build(b.destWild)
	p.DestV6 = b.v6.build(b.destWild)
	p.Ports = PortDimension{Wild: b.ports.wild, Entries: b.ports.entries}
	if p.Ports.Entries == nil {
		p.Ports.Entries = map[uint16]Masks{}
	}
}

// ConditionErrors counts the condition evaluations that failed (a type
// error at run time, an exceeded cost limit): each counted as no match.
func (p *Program) ConditionErrors() uint64 { return p.condErrors.Load() }

// RuleConditionErrors returns rule i's share of ConditionErrors (i as in
// Rules).
func (p *Program) RuleConditionErrors(i int) uint64 { return p.compiled[i].condErrors.Load() }
