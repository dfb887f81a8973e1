package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-dev/vigil/internal/event"
)

// field is a match selector.
type field int

const (
	fExe field = iota
	fParentExe
	fArgs
	fPath
	fName
	fTarget
	fFlags
	fAccess
	fMode
	fFSType
	fDestination
	fFamily
	fType
	fRequest
	fCmd
	numFields
)

// String is the selector's YAML key.
func (f field) String() string {
	switch f {
	case fExe:
		return "exe"
	case fParentExe:
		return "parent_exe"
	case fArgs:
		return "args"
	case fPath:
		return "path"
	case fName:
		return "name"
	case fTarget:
		return "target"
	case fFlags:
		return "flags"
	case fAccess:
		return "access"
	case fMode:
		return "mode"
	case fFSType:
		return "fstype"
	case fDestination:
		return "destination"
	case fFamily:
		return "family"
	case fType:
		return "type"
	case fRequest:
		return "request"
	case fCmd:
		return "cmd"
	}
	return fmt.Sprintf("field(%d)", int(f))
}

// accepts reports whether events of kind k have the field.
func (f field) accepts(k event.Kind) bool {
	switch f {
	case fExe, fParentExe:
		return true
	case fArgs:
		return k == event.KindExec
	case fPath:
		return slices.Contains(event.FileKinds, k)
	case fName:
		return k != event.KindMount && slices.Contains(event.FileKinds, k)
	case fTarget:
		return k == event.KindLink || k == event.KindSymlink
	case fFlags, fAccess:
		return k == event.KindOpen
	case fMode:
		return k == event.KindChmod
	case fFSType:
		return k == event.KindMount
	case fDestination:
		return k == event.KindConnect
	case fFamily, fType:
		return k == event.KindSocket
	case fRequest:
		return k == event.KindPtrace
	case fCmd:
		return k == event.KindBPF
	}
	return false
}

// inKernel reports whether the kernel evaluates the field (the string
// selectors only partly: their globs are confirmed in userspace).
func (f field) inKernel() bool {
	return f != fArgs && f != fFSType
}

// notAField explains why f cannot be used with kind k.
func (f field) notAField(k event.Kind) string {
	msg := fmt.Sprintf("%s is not a field of %s events", f, k)
	if k == event.KindExec && (f == fPath || f == fName) {
		return msg + "; use exe"
	}
	var kinds []string
	for _, kk := range ruleKinds() {
		if f.accepts(kk) {
			kinds = append(kinds, string(kk))
		}
	}
	return msg + " (only of " + strings.Join(kinds, ", ") + ")"
}

// set lists the selectors m gives, in field order.
func (m *Match) set() []field {
	var out []field
	for f := field(0); f < numFields; f++ {
		if m.has(f) {
			out = append(out, f)
		}
	}
	return out
}

func (m *Match) has(f field) bool {
	switch f {
	case fExe:
		return m.Exe != nil
	case fParentExe:
		return m.ParentExe != nil
	case fArgs:
		return m.Args != nil
	case fPath:
		return m.Path != nil
	case fName:
		return m.Name != nil
	case fTarget:
		return m.Target != nil
	case fFlags:
		return m.Flags != nil
	case fAccess:
		return m.Access != nil
	case fMode:
		return m.Mode != nil
	case fFSType:
		return m.FSType != nil
	case fDestination:
		return m.Destination != nil
	case fFamily:
		return m.Family != nil
	case fType:
		return m.Type != nil
	case fRequest:
		return m.Request != nil
	case fCmd:
		return m.Cmd != nil
	}
	return false
}

// ruleKinds are the kinds rules may name: every kind the kernel's policy
// sees (exit, fork, http and alert are not).
func ruleKinds() []event.Kind {
	out := []event.Kind{event.KindExec}
	out = append(out, event.FileKinds...)
	out = append(out, event.NetKinds...)
	return append(out, event.PrivKinds...)
}

func isRuleKind(k event.Kind) bool {
	return slices.Contains(ruleKinds(), k)
}

// namedList is one string list of a rule, by its path in the rule.
type namedList struct {
	field string
	list  *[]string
}

// lists returns every string list of m, for list expansion and checks.
func (m *Match) lists() []namedList {
	var out []namedList
	str := func(name string, s *StringSelector) {
		if s == nil {
			return
		}
		out = append(out,
			namedList{name + ".exact", &s.Exact}, namedList{name + ".prefix", &s.Prefix},
			namedList{name + ".glob", &s.Glob}, namedList{name + ".not_in", &s.NotIn},
			namedList{name + ".not_prefix", &s.NotPrefix}, namedList{name + ".not_glob", &s.NotGlob})
	}
	str("match.exe", m.Exe)
	str("match.parent_exe", m.ParentExe)
	str("match.path", m.Path)
	str("match.name", m.Name)
	str("match.target", m.Target)
	if a := m.Args; a != nil {
		out = append(out, namedList{"match.args.any", &a.Any}, namedList{"match.args.prefix", &a.Prefix},
			namedList{"match.args.glob", &a.Glob}, namedList{"match.args.contains", &a.Contains})
	}
	if d := m.Destination; d != nil {
		out = append(out, namedList{"match.destination.cidr", &d.CIDR}, namedList{"match.destination.not_cidr", &d.NotCIDR},
			namedList{"match.destination.ports", &d.Ports}, namedList{"match.destination.not_ports", &d.NotPorts})
	}
	return append(out,
		namedList{"match.flags", &m.Flags}, namedList{"match.access", &m.Access}, namedList{"match.mode", &m.Mode},
		namedList{"match.fstype", &m.FSType}, namedList{"match.family", &m.Family}, namedList{"match.type", &m.Type},
		namedList{"match.request", &m.Request}, namedList{"match.cmd", &m.Cmd})
}
