package policy

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/linuxabi"
)

// maxParamValues is how many values the kernel compares a rule's argument
// against (POLICY_MAX_VALUES).
const maxParamValues = 8

// Param is a rule's check of the event's scalar argument, as the kernel
// does it: (AnyBits == 0 || arg&AnyBits != 0) && (len(Values) == 0 ||
// arg&ValueMask is one of Values). The zero Param checks nothing.
//
// The argument per kind: open, the open flags; chmod, the mode; socket,
// family | (type&0xf)<<16; ptrace, the request; bpf, the command.
type Param struct {
	AnyBits, ValueMask uint64
	Values             []uint64
}

// Match applies the check to arg.
func (p *Param) Match(arg uint64) bool {
	if p.AnyBits != 0 && arg&p.AnyBits == 0 {
		return false
	}
	return len(p.Values) == 0 || slices.Contains(p.Values, arg&p.ValueMask)
}

func (p *Param) zero() bool { return p.AnyBits == 0 && len(p.Values) == 0 }

// Masks of the socket argument.
const (
	socketFamilyMask = 0xffff
	socketTypeShift  = 16
	socketTypeMask   = linuxabi.SocketTypeMask << socketTypeShift
)

// buildParam computes the rule's Param from its param selectors (which are
// validated: every name is known). Selectors of one kind combine: for
// socket, family and type give the product of their values.
func buildParam(m *Match) (Param, error) {
	var p Param
	for _, f := range m.Flags {
		v, _ := lookupName(linuxabi.OpenFlags, "O_", f)
		p.AnyBits |= distinctBits(linuxabi.OpenFlags, v)
	}
	if len(m.Access) > 0 {
		p.ValueMask = linuxabi.OAccMode
		for _, a := range m.Access {
			switch a {
			case "read":
				p.Values = append(p.Values, linuxabi.ORdonly, linuxabi.ORdwr)
			case "write":
				p.Values = append(p.Values, linuxabi.OWronly, linuxabi.ORdwr)
			}
		}
	}
	for _, s := range m.Mode {
		v, _ := modeBits(s)
		p.AnyBits |= v
	}
	if len(m.Family) > 0 || len(m.Type) > 0 {
		fams, types := []uint64{0}, []uint64{0}
		if len(m.Family) > 0 {
			p.ValueMask |= socketFamilyMask
			fams = namesValues(linuxabi.AddressFamilies, "AF_", m.Family)
		}
		if len(m.Type) > 0 {
			p.ValueMask |= socketTypeMask
			types = namesValues(linuxabi.SocketTypes, "SOCK_", m.Type)
		}
		for _, f := range fams {
			for _, t := range types {
				p.Values = append(p.Values, f|t<<socketTypeShift)
			}
		}
	}
	if len(m.Request) > 0 {
		p.ValueMask = ^uint64(0)
		p.Values = namesValues(linuxabi.PtraceRequests, "PTRACE_", m.Request)
	}
	if len(m.Cmd) > 0 {
		p.ValueMask = ^uint64(0)
		p.Values = namesValues(linuxabi.BPFCommands, "BPF_", m.Cmd)
	}
	slices.Sort(p.Values)
	p.Values = slices.Compact(p.Values)
	if len(p.Values) > maxParamValues {
		return p, fmt.Errorf("%d values after expansion; the kernel compares at most %d", len(p.Values), maxParamValues)
	}
	if len(p.Values) == 0 {
		p.Values = nil
	}
	return p, nil
}

// lookupName finds name in t, with or without its prefix (ATTACH is
// PTRACE_ATTACH), case-insensitively.
func lookupName(t linuxabi.Table, prefix, name string) (uint64, bool) {
	if v, ok := t.Lookup(name); ok {
		return v, true
	}
	if !strings.HasPrefix(strings.ToUpper(name), prefix) {
		return t.Lookup(prefix + name)
	}
	return 0, false
}

func namesValues(t linuxabi.Table, prefix string, names []string) []uint64 {
	out := make([]uint64, 0, len(names))
	for _, n := range names {
		v, _ := lookupName(t, prefix, n)
		out = append(out, v)
	}
	return out
}

// distinctBits is what "flag v is set" tests: the bits of v that no other
// single-bit flag of t names. O_SYNC is __O_SYNC|O_DSYNC and O_TMPFILE is
// __O_TMPFILE|O_DIRECTORY: a rule naming O_SYNC must not match every
// O_DSYNC open.
func distinctBits(t linuxabi.Table, v uint64) uint64 {
	if bits.OnesCount64(v) <= 1 {
		return v
	}
	d := v
	for _, n := range t {
		if n.Value != v && bits.OnesCount64(n.Value) == 1 && v&n.Value != 0 {
			d &^= n.Value
		}
	}
	if d == 0 {
		return v
	}
	return d
}

// modeBits parses a mode selector item: an S_* name or an octal string.
func modeBits(s string) (uint64, error) {
	if v, ok := lookupName(linuxabi.ModeBits, "S_", s); ok {
		return v, nil
	}
	if s == "" || strings.Trim(s, "01234567") != "" {
		return 0, fmt.Errorf("not an S_* name or octal mode")
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 07777 {
		return 0, fmt.Errorf("octal mode out of range (at most 07777)")
	}
	if v == 0 {
		return 0, fmt.Errorf("mode 0 has no bits to test")
	}
	return v, nil
}

// eventArg computes the kernel's argument for ev from its fields, for
// MatchEvent. ok is false when the event lacks what the argument needs (a
// name no table knows): rules with a check then do not match.
func eventArg(ev *event.Event) (arg uint64, ok bool) {
	switch ev.Kind {
	case event.KindOpen:
		if ev.File == nil {
			return 0, false
		}
		for _, f := range ev.File.Flags {
			v, ok := valueOf(linuxabi.OpenFlags, "O_", f)
			if !ok {
				return 0, false
			}
			arg |= v
		}
		switch ev.File.Access {
		case "read":
			arg = arg&^linuxabi.OAccMode | linuxabi.ORdonly
		case "write":
			arg = arg&^linuxabi.OAccMode | linuxabi.OWronly
		case "read_write":
			arg = arg&^linuxabi.OAccMode | linuxabi.ORdwr
		}
		return arg, true
	case event.KindChmod:
		if ev.File == nil || ev.File.Mode == nil {
			return 0, false
		}
		return uint64(*ev.File.Mode), true
	case event.KindSocket:
		if ev.Net == nil {
			return 0, false
		}
		f, ok1 := valueOf(linuxabi.AddressFamilies, "AF_", ev.Net.Family)
		t, ok2 := valueOf(linuxabi.SocketTypes, "SOCK_", ev.Net.Type)
		return f&socketFamilyMask | (t&linuxabi.SocketTypeMask)<<socketTypeShift, ok1 && ok2
	case event.KindPtrace:
		if ev.Priv == nil {
			return 0, false
		}
		return valueOf(linuxabi.PtraceRequests, "PTRACE_", ev.Priv.Request)
	case event.KindBPF:
		if ev.Priv == nil {
			return 0, false
		}
		return valueOf(linuxabi.BPFCommands, "BPF_", ev.Priv.Cmd)
	}
	return 0, true
}

// valueOf reads an event's name for a number: a table name, or the number
// itself (decimal or 0x hex) when the decoder knew no name for it.
func valueOf(t linuxabi.Table, prefix, name string) (uint64, bool) {
	if v, ok := lookupName(t, prefix, name); ok {
		return v, true
	}
	v, err := strconv.ParseUint(name, 0, 64)
	return v, err == nil
}
