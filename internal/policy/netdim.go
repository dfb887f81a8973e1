package policy

import (
	"net/netip"
	"sort"
)

// CIDREntry is one key of a destination LPM trie.
type CIDREntry struct {
	Prefix netip.Prefix
	Masks
}

// CIDRDimension is one address family's destination trie (DestV4 holds
// only IPv4 prefixes, DestV6 only IPv6 ones), closed like Dimension and
// sorted by address, then prefix length. Both families share one Wild: the
// rules without a destination selector. A rule with a destination but no
// positive CIDR (only ports, or only not_cidr) has its bit in the Pos of
// the entries 0.0.0.0/0 and ::/0 instead, so that it matches every IP
// destination and, like every destination rule, none when the connect has
// no IP destination (the kernel then uses Wild without a lookup).
type CIDRDimension struct {
	Wild    uint64
	Entries []CIDREntry
}

// Match is the kernel's result for destination a: the longest entry of a's
// family containing it. An IPv4-mapped IPv6 address is looked up as IPv4
// (a dual-stack socket connecting to an IPv4 peer), so DestV6.Match of such
// an address sees no entry: callers pick the dimension by a.Unmap().
func (d CIDRDimension) Match(a netip.Addr) uint64 {
	a = a.Unmap().WithZone("")
	best := -1
	for i, e := range d.Entries {
		if e.Prefix.Addr().Is4() == a.Is4() && e.Prefix.Contains(a) && (best < 0 || e.Prefix.Bits() > d.Entries[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return d.Wild
	}
	return d.Entries[best].result(d.Wild)
}

type cidrBuilder struct {
	entries map[netip.Prefix]Masks
}

func (b *cidrBuilder) add(p netip.Prefix, neg bool, bit uint64) {
	if b.entries == nil {
		b.entries = map[netip.Prefix]Masks{}
	}
	addMask(b.entries, p.Masked(), neg, bit)
}

// build sorts and closes the entries: in (address, length) order every
// prefix comes before the prefixes it contains, so a stack of containing
// prefixes gives each entry its closure, as for strings.
func (b *cidrBuilder) build(wild uint64) CIDRDimension {
	d := CIDRDimension{Wild: wild, Entries: make([]CIDREntry, 0, len(b.entries))}
	for p, m := range b.entries {
		d.Entries = append(d.Entries, CIDREntry{Prefix: p, Masks: m})
	}
	sort.Slice(d.Entries, func(i, j int) bool {
		pi, pj := d.Entries[i].Prefix, d.Entries[j].Prefix
		if c := pi.Addr().Compare(pj.Addr()); c != 0 {
			return c < 0
		}
		return pi.Bits() < pj.Bits()
	})
	var stack []int
	for i := range d.Entries {
		p := d.Entries[i].Prefix
		for len(stack) > 0 && !contains(d.Entries[stack[len(stack)-1]].Prefix, p) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			d.Entries[i].Masks = d.Entries[i].Masks.or(d.Entries[stack[len(stack)-1]].Masks)
		}
		stack = append(stack, i)
	}
	return d
}

// contains reports whether prefix outer contains all of inner.
func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// PortDimension is the destination port dimension: a hash map from port
// to masks; Wild are the rules without a positive port.
type PortDimension struct {
	Wild    uint64
	Entries map[uint16]Masks
}

// Match is the kernel's result for destination port port.
func (d PortDimension) Match(port uint16) uint64 {
	if m, ok := d.Entries[port]; ok {
		return m.result(d.Wild)
	}
	return d.Wild
}

type portBuilder struct {
	wild    uint64
	entries map[uint16]Masks
}

func (b *portBuilder) add(port uint16, neg bool, bit uint64) {
	if b.entries == nil {
		b.entries = map[uint16]Masks{}
	}
	addMask(b.entries, port, neg, bit)
}
