package tracecontext

import (
	"testing"
)

func TestParse(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"00-" + tid + "-" + sid + "-01", true},
		{"00-" + tid + "-" + sid + "-00", true},
		{"01-" + tid + "-" + sid + "-01-extra", true},  // future version, more fields
		{"00-" + tid + "-" + sid + "-01-extra", false}, // version 00 is exact
		{"ff-" + tid + "-" + sid + "-01", false},
		{"00-00000000000000000000000000000000-" + sid + "-01", false},
		{"00-" + tid + "-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-" + sid + "-01", false}, // uppercase
		{"00-" + tid + "-" + sid + "-0", false},
		{"00_" + tid + "-" + sid + "-01", false},
		{"", false},
		{"00-" + tid + "-" + sid + "-zz", false},
	} {
		p, ok := Parse(c.in)
		if ok != c.ok {
			t.Errorf("Parse(%q) ok=%v, want %v", c.in, ok, c.ok)
			continue
		}
		if ok && (p.TraceID.String() != tid || p.SpanID.String() != sid) {
			t.Errorf("Parse(%q) = %s %s", c.in, p.TraceID, p.SpanID)
		}
	}
}

func TestIDsAreValidAndDistinct(t *testing.T) {
	g := NewIDs()
	seen := map[TraceID]bool{}
	for range 1000 {
		id := g.TraceID()
		if !id.IsValid() || seen[id] {
			t.Fatalf("bad or repeated trace id %s", id)
		}
		seen[id] = true
		if !g.SpanID().IsValid() {
			t.Fatal("zero span id")
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := Parse(s)
		if ok && (!p.TraceID.IsValid() || !p.SpanID.IsValid()) {
			t.Fatalf("accepted invalid ids in %q", s)
		}
	})
}
