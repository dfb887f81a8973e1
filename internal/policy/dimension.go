package policy

import (
	"sort"
	"strings"
)

// Kernel key limits: an LPM trie key holds at most 255 bytes of data here
// (256 with the terminator the kernel side reserves), so an exact pattern
// (stored with its NUL) has at most 254 bytes and a prefix at most 255.
const (
	keyData      = 255
	maxExactLen  = keyData - 1
	maxPrefixLen = keyData
	// maxNameLen is the longest base name the name hash map holds (its
	// key is 64 bytes, NUL-terminated).
	maxNameLen = 63
	// MaxEntries is the size of every kernel map of a dimension.
	MaxEntries = 4096
)

// Masks are the rules an entry matches (Pos) and excludes (Neg).
type Masks struct{ Pos, Neg uint64 }

func (m Masks) or(o Masks) Masks { return Masks{m.Pos | o.Pos, m.Neg | o.Neg} }

// result is the dimension's value for a lookup that found m.
func (m Masks) result(wild uint64) uint64 { return (m.Pos | wild) &^ m.Neg }

// Entry is one key of a string dimension's LPM trie. The kernel key is Key,
// followed by a NUL when Exact, so that an exact entry matches only the
// whole string while a prefix entry matches every string it starts.
type Entry struct {
	Key   string
	Exact bool
	Masks
}

// KernelKey is the entry's key as the kernel stores it.
func (e *Entry) KernelKey() string {
	if e.Exact {
		return e.Key + "\x00"
	}
	return e.Key
}

// cmp orders entries by kernel key: by Key, a prefix entry before the exact
// entry of the same Key (NUL sorts before every other byte, and keys hold
// no NUL).
func (e *Entry) cmp(key string, exact bool) int {
	if c := strings.Compare(e.Key, key); c != 0 {
		return c
	}
	switch {
	case e.Exact == exact:
		return 0
	case exact:
		return -1
	}
	return 1
}

// Dimension is a string dimension (exe, parent_exe, path, target) as the
// kernel holds it: Wild are the rules without a positive pattern in it, and
// Entries the trie, sorted by kernel key, each entry's masks already
// including those of every entry whose kernel key is a prefix of its own
// (an LPM trie returns only the longest match).
type Dimension struct {
	Wild    uint64
	Entries []Entry
}

// Match is exactly the kernel's result for s: the lookup data is s up to
// its first NUL, then a NUL, cut to 255 bytes; the longest entry whose
// kernel key is a prefix of the data gives (Pos|Wild)&^Neg, no entry gives
// Wild. Entries must be sorted (Compile's are).
func (d *Dimension) Match(s string) uint64 {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	// An exact entry matches only when the terminator fits the data, and
	// it is then the longest possible match.
	if len(s) <= maxExactLen {
		if e := d.find(s, true); e != nil {
			return e.result(d.Wild)
		}
	}
	if len(s) > keyData {
		s = s[:keyData]
	}
	if e := d.longestPrefix(s); e != nil {
		return e.result(d.Wild)
	}
	return d.Wild
}

func (d *Dimension) find(key string, exact bool) *Entry {
	i := sort.Search(len(d.Entries), func(i int) bool { return d.Entries[i].cmp(key, exact) >= 0 })
	if i < len(d.Entries) && d.Entries[i].cmp(key, exact) == 0 {
		return &d.Entries[i]
	}
	return nil
}

// longestPrefix finds the longest prefix entry whose key starts t. The
// greatest entry not after t is it when it is a prefix of t; otherwise the
// answer is a prefix of what that entry and t share, and the search goes
// on with that, strictly shorter, string.
func (d *Dimension) longestPrefix(t string) *Entry {
	for {
		i := sort.Search(len(d.Entries), func(i int) bool { return d.Entries[i].cmp(t, false) > 0 }) - 1
		if i < 0 {
			return nil
		}
		e := &d.Entries[i]
		if !e.Exact && strings.HasPrefix(t, e.Key) {
			return e
		}
		n := 0
		for n < len(t) && n < len(e.Key) && t[n] == e.Key[n] {
			n++
		}
		if n == len(t) {
			// Cannot happen for sorted entries (e would sort after t);
			// stop rather than loop on unsorted input.
			return nil
		}
		t = t[:n]
	}
}

// strBuilder accumulates one string dimension's patterns.
type strBuilder struct {
	wild    uint64
	entries map[entryKey]Masks
}

type entryKey struct {
	key   string
	exact bool
}

func (b *strBuilder) add(key string, exact, neg bool, bit uint64) {
	if b.entries == nil {
		b.entries = map[entryKey]Masks{}
	}
	addMask(b.entries, entryKey{key, exact}, neg, bit)
}

// addMask puts rule bit into the Neg or Pos of entry k.
func addMask[K comparable](entries map[K]Masks, k K, neg bool, bit uint64) {
	m := entries[k]
	if neg {
		m.Neg |= bit
	} else {
		m.Pos |= bit
	}
	entries[k] = m
}

// build sorts the entries and closes them: walking them in kernel-key order
// with a stack of the entries whose keys are prefixes of the current one,
// each entry inherits the (already closed) masks of the top of the stack.
func (b *strBuilder) build() Dimension {
	d := Dimension{Wild: b.wild, Entries: make([]Entry, 0, len(b.entries))}
	for k, m := range b.entries {
		d.Entries = append(d.Entries, Entry{Key: k.key, Exact: k.exact, Masks: m})
	}
	sort.Slice(d.Entries, func(i, j int) bool {
		return d.Entries[i].cmp(d.Entries[j].Key, d.Entries[j].Exact) < 0
	})
	var stack []int
	for i := range d.Entries {
		kk := d.Entries[i].KernelKey()
		for len(stack) > 0 && !strings.HasPrefix(kk, d.Entries[stack[len(stack)-1]].KernelKey()) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			d.Entries[i].Masks = d.Entries[i].Masks.or(d.Entries[stack[len(stack)-1]].Masks)
		}
		stack = append(stack, i)
	}
	return d
}

// NameDimension is the base-name dimension: a hash map from base names (at
// most 63 bytes) to masks; Wild are the rules without a positive name.
type NameDimension struct {
	Wild    uint64
	Entries map[string]Masks
}

// Match is the kernel's result for base name name: a name too long for
// the map's keys matches no entry.
func (d NameDimension) Match(name string) uint64 {
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	if len(name) > maxNameLen {
		return d.Wild
	}
	if m, ok := d.Entries[name]; ok {
		return m.result(d.Wild)
	}
	return d.Wild
}
