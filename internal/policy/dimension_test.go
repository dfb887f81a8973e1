package policy

import (
	"fmt"
	"github.com/vigil-dev/vigil/internal/event"
	"math/rand/v2"
	"strings"
	"testing"
)

// pathProgram compiles open rules whose path selectors are given.
func pathProgram(t *testing.T, sels ...string) *Program {
	t.Helper()
	var b strings.Builder
	b.WriteString("rules:\n")
	for i, s := range sels {
		fmt.Fprintf(&b, "  - {name: r%d, description: d, severity: low, events: [open], match: %s}\n", i, s)
	}
	return compileYAML(t, b.String())
}

func TestDimensionClosure(t *testing.T) {
	p := pathProgram(t,
		`{path: {prefix: [/etc/]}}`,
		`{path: {exact: [/etc/shadow]}}`,
		`{path: {prefix: [/etc/sh]}}`,
	)
	const r0, r1, r2 = 1, 2, 4
	// The trie itself: every entry carries the masks of its prefixes.
	want := map[string]uint64{"/etc/": r0, "/etc/sh": r0 | r2, "/etc/shadow\x00": r0 | r1 | r2}
	if len(p.Path.Entries) != len(want) {
		t.Fatalf("entries %+v, want %d", p.Path.Entries, len(want))
	}
	for i, e := range p.Path.Entries {
		if want[e.KernelKey()] != e.Pos || e.Neg != 0 {
			t.Errorf("entry %q: pos %b neg %b, want pos %b", e.KernelKey(), e.Pos, e.Neg, want[e.KernelKey()])
		}
		if i > 0 && p.Path.Entries[i-1].KernelKey() >= e.KernelKey() {
			t.Errorf("entries not sorted by kernel key: %q before %q", p.Path.Entries[i-1].KernelKey(), e.KernelKey())
		}
	}
	if p.Path.Wild != 0 {
		t.Errorf("wild %b, want 0", p.Path.Wild)
	}
	for _, c := range []struct {
		s    string
		want uint64
	}{
		{"/etc/shadow", r0 | r1 | r2},
		{"/etc/shadow-", r0 | r2}, // not the exact file
		{"/etc/shadowx", r0 | r2},
		{"/etc/sh", r0 | r2},
		{"/etc/shells", r0 | r2},
		{"/etc/s", r0},
		{"/etc/", r0},
		{"/etc/passwd", r0},
		{"/etc", 0},
		{"/et", 0},
		{"", 0},
		{"/var/etc/shadow", 0},
		{"/etc/shadow\x00junk", r0 | r1 | r2}, // the kernel stops at the NUL
	} {
		if got := p.Path.Match(c.s); got != c.want {
			t.Errorf("Match(%q) = %b, want %b", c.s, got, c.want)
		}
	}
}

func TestDimensionNegativeAndWild(t *testing.T) {
	p := pathProgram(t,
		`{path: {prefix: [/etc/], not_in: [/etc/shadow], not_prefix: [/etc/ssh/]}}`,
		`{path: {not_prefix: [/tmp/]}}`, // only negative: wild
		`{}`,                            // no path at all: wild
		`{path: {exact: [/etc/ssh/sshd_config], not_prefix: [/etc/]}}`, // negative wins
	)
	const r0, r1, r2, r3 = 1, 2, 4, 8
	if p.Path.Wild != r1|r2 {
		t.Errorf("wild %b, want %b", p.Path.Wild, r1|r2)
	}
	for _, c := range []struct {
		s    string
		want uint64
	}{
		{"/etc/passwd", r0 | r1 | r2},
		{"/etc/shadow", r1 | r2},
		{"/etc/ssh/sshd_config", r1 | r2},
		{"/etc/ssh/", r1 | r2},
		{"/tmp/x", r2},
		{"/tmp", r1 | r2},
		{"/var/log/syslog", r1 | r2},
	} {
		if got := p.Path.Match(c.s); got != c.want {
			t.Errorf("Match(%q) = %b, want %b", c.s, got, c.want)
		}
	}
}

func TestDimensionKeyLimits(t *testing.T) {
	ex := "/" + strings.Repeat("e", maxExactLen-1)  // 254 bytes
	pf := "/" + strings.Repeat("p", maxPrefixLen-1) // 255 bytes
	p := pathProgram(t,
		fmt.Sprintf(`{path: {exact: [%q]}}`, ex),
		fmt.Sprintf(`{path: {prefix: [%q]}}`, pf),
		fmt.Sprintf(`{path: {exact: [%q]}}`, ex[:200]),
	)
	for _, c := range []struct {
		s    string
		want uint64
	}{
		{ex, 1},
		{ex + "x", 0}, // longer than the exact pattern
		{pf, 2},
		{pf + strings.Repeat("x", 1000), 2}, // cut to 255 bytes: still the prefix
		{ex[:200], 4},
		{ex[:200] + "x", 0},
	} {
		if got := p.Path.Match(c.s); got != c.want {
			t.Errorf("Match(len %d) = %b, want %b", len(c.s), got, c.want)
		}
	}
}

// TestDimensionMatchProperty compares Dimension.Match with the selectors'
// meaning on random rules and strings: the kernel's single longest-prefix
// lookup on the closed trie must give exactly what evaluating every rule's
// patterns one by one gives.
func TestDimensionMatchProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "ab/"
	randStr := func(max int) string {
		n := rng.IntN(max + 1)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	randPatterns := func(max int) []string {
		var out []string
		for range rng.IntN(max + 1) {
			s := randStr(6)
			if s == "" {
				s = "a"
			}
			if rng.IntN(20) == 0 { // now and then near the key limit
				s = strings.Repeat("a", 250) + s
				if len(s) > maxExactLen {
					s = s[:maxExactLen]
				}
			}
			out = append(out, s)
		}
		return out
	}
	for iter := range 300 {
		n := 1 + rng.IntN(MaxRules)
		sels := make([]*StringSelector, n)
		var rules []*Rule
		for i := range n {
			var s *StringSelector
			if rng.IntN(5) != 0 {
				s = &StringSelector{Exact: randPatterns(3), Prefix: randPatterns(3), NotIn: randPatterns(2), NotPrefix: randPatterns(2)}
				if s.size() == 0 {
					s.Exact = []string{"a"}
				}
			}
			sels[i] = s
			rules = append(rules, &Rule{Name: fmt.Sprintf("r%d", i), Description: "d", Severity: "low", Action: "alert",
				Enabled: true, Events: []event.Kind{event.KindOpen}, Match: Match{Path: s}})
		}
		p, err := Compile(rules)
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			s := randStr(8)
			if rng.IntN(10) == 0 {
				s = strings.Repeat("a", 240+rng.IntN(30)) + s
			}
			var want uint64
			for i, sel := range sels {
				if sel == nil || compileStrSelector(sel).match(s) {
					want |= 1 << i
				}
			}
			if got := p.Path.Match(s); got != want {
				t.Fatalf("iteration %d: Match(%q) = %b, want %b (rules %+v)", iter, s, got, want, sels)
			}
			if got := bruteMatch(&p.Path, s); got != want {
				t.Fatalf("iteration %d: brute-force LPM of %q = %b, want %b", iter, s, got, want)
			}
		}
	}
}

// bruteMatch is the LPM lookup done the slow way: the kernel's data, every
// entry compared.
func bruteMatch(d *Dimension, s string) uint64 {
	data := s + "\x00"
	if len(data) > keyData {
		data = data[:keyData]
	}
	best := -1
	for i := range d.Entries {
		k := d.Entries[i].KernelKey()
		if strings.HasPrefix(data, k) && (best < 0 || len(k) > len(d.Entries[best].KernelKey())) {
			best = i
		}
	}
	if best < 0 {
		return d.Wild
	}
	return d.Entries[best].result(d.Wild)
}

func TestNameDimension(t *testing.T) {
	p := compileYAML(t, `
rules:
  - {name: a, description: d, severity: low, events: [unlink], match: {name: {exact: [.bash_history, x]}}}
  - {name: b, description: d, severity: low, events: [unlink], match: {name: {not_in: [x]}}}
  - {name: c, description: d, severity: low, events: [unlink]}
`)
	const a, b, c = 1, 2, 4
	for _, tc := range []struct {
		name string
		want uint64
	}{
		{".bash_history", a | b | c},
		{"x", a | c},
		{"y", b | c},
		{"", b | c},
		{strings.Repeat("x", 64), b | c}, // longer than any key: no lookup
	} {
		if got := p.Name.Match(tc.name); got != tc.want {
			t.Errorf("Name.Match(%q) = %b, want %b", tc.name, got, tc.want)
		}
	}
}
