package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// A kill or deny rule is broad when its match does not say which
// processes or which objects it is for: none of its selectors narrows.
// Such a rule kills every exec, or every open, or denies every connect of
// the node (typically a typo, a list that expanded to nothing useful, or
// a pattern meant for a test), and is refused unless the rule says
// allow_broad_enforcement: true.
//
// A selector narrows when it matches only some of the events that have
// its field:
//
//   - exe, parent_exe, path, target: a positive (exact or prefix) pattern,
//     none of them the prefix "/", which every absolute path starts with.
//     Negative patterns alone match everything else, so do not narrow.
//   - name: an exact pattern.
//   - destination: ports, or CIDRs that cover neither all of IPv4 nor all
//     of IPv6 (0.0.0.0/0, ::/0, or halves such as 0.0.0.0/1 and
//     128.0.0.0/1, cover a family).
//
// The parameter selectors (flags, access, mode, family, type, request,
// cmd) say how a call is made, not who makes it or on what: "kill every
// process that opens a file for writing" or "every ptrace attach" still
// matches the node's own daemons, so they do not narrow on their own.
// args, fstype and conditions cannot be used with kill and deny at all.

// broadReason says why the rule's match is broad, or "" when it is not.
func broadReason(m *Match) string {
	var why []string
	strSel := func(name string, s *StringSelector) bool {
		if s == nil {
			return false
		}
		if slices.Contains(s.Prefix, "/") {
			why = append(why, fmt.Sprintf("%s prefix \"/\" matches every path", name))
			return false
		}
		if len(s.Exact)+len(s.Prefix) == 0 {
			why = append(why, fmt.Sprintf("%s has only negative patterns, which match everything else", name))
			return false
		}
		return true
	}
	narrow := false
	for _, s := range []struct {
		name string
		sel  *StringSelector
	}{{"exe", m.Exe}, {"parent_exe", m.ParentExe}, {"path", m.Path}, {"target", m.Target}} {
		if strSel(s.name, s.sel) {
			narrow = true
		}
	}
	if m.Name != nil {
		if len(m.Name.Exact) > 0 {
			narrow = true
		} else {
			why = append(why, "name has only negative patterns, which match everything else")
		}
	}
	if d := m.Destination; d != nil {
		switch {
		case len(d.Ports) > 0:
			narrow = true
		case len(d.CIDR) == 0:
			why = append(why, "destination has no cidr or ports, only negative patterns, which match everything else")
		default:
			if fam := coveredFamily(d.CIDR); fam != "" {
				why = append(why, fmt.Sprintf("destination cidr covers every %s address", fam))
			} else {
				narrow = true
			}
		}
	}
	if narrow {
		return ""
	}
	if len(why) == 0 {
		return "no selector says which processes or objects it is for"
	}
	return strings.Join(why, "; ")
}

// coveredFamily is "IPv4" or "IPv6" when the CIDRs (valid, as
// checkDest leaves them) cover that whole family, else "".
func coveredFamily(cidrs []string) string {
	var v4, v6 []netip.Prefix
	for _, c := range cidrs {
		p, err := parseCIDR(c)
		if err != nil {
			continue
		}
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	switch {
	case covers(v4, netip.IPv4Unspecified()):
		return "IPv4"
	case covers(v6, netip.IPv6Unspecified()):
		return "IPv6"
	}
	return ""
}

// covers reports whether the prefixes, all of zero's family, cover every
// address of it.
func covers(ps []netip.Prefix, zero netip.Addr) bool {
	if len(ps) == 0 {
		return false
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	next := zero // the lowest address not covered yet
	for _, p := range ps {
		if next.Compare(p.Addr()) < 0 {
			return false // a gap below p
		}
		last := lastAddr(p)
		if !last.Next().IsValid() {
			return true // p reaches the family's last address
		}
		if next.Compare(last) <= 0 {
			next = last.Next()
		}
	}
	return false
}

// lastAddr is the highest address of p (masked).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
