package traces

import (
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/event"
)

type span struct {
	name        string
	side        string
	pid, tid    uint32
	local, peer event.Endpoint
	start, end  int64
}

func ev(s span, id int) *event.Event {
	return &event.Event{
		Time: time.Unix(0, s.start), Kind: event.KindHTTP,
		Process: event.Process{PID: s.pid, TID: s.tid, Comm: s.name},
		HTTP: &event.HTTP{Side: s.side, DurationNs: uint64(s.end - s.start), Local: s.local, Peer: s.peer,
			TraceID: "trace-" + s.name, SpanID: s.name},
	}
}

func ep(port uint16) event.Endpoint { return event.Endpoint{Addr: "127.0.0.1", Port: port} }

// A curl -> front -> back chain on one node becomes one trace; an
// unrelated exchange at the same time stays apart.
func TestStitchNodeLocalChain(t *testing.T) {
	spans := []span{ // in the order they complete
		{"S2", event.SideServer, 30, 30, ep(9000), ep(40001), 300, 460}, // back serves; its write returns after the front has read
		{"C1", event.SideClient, 20, 21, ep(40001), ep(9000), 250, 450}, // front calls back
		{"X", event.SideServer, 30, 31, ep(9000), ep(40002), 260, 440},  // someone else's call to back
		{"S1", event.SideServer, 20, 21, ep(8000), ep(50001), 200, 500}, // front serves
		{"C0", event.SideClient, 10, 10, ep(50001), ep(8000), 100, 600}, // curl
	}
	var out []event.HTTP
	callers := map[string]event.Caller{} // by server span
	s := NewStitcher(time.Second, 100, func(e *event.Event) {
		out = append(out, *e.HTTP)
		if c := e.HTTP.Caller; c != nil {
			callers[e.HTTP.SpanID] = *c // valid during the call only
		}
	})
	now := time.Unix(1000, 0)
	for i, sp := range spans {
		s.Add(ev(sp, i), false, now)
	}
	s.FlushAll()
	// The server ends joined to their client ends carry them: the edges
	// of the service graph.
	wantCallers := map[string]event.Caller{"S2": {PID: 20, DurationNs: 200}, "S1": {PID: 10, DurationNs: 500}}
	if len(callers) != len(wantCallers) || callers["S2"] != wantCallers["S2"] || callers["S1"] != wantCallers["S1"] {
		t.Errorf("callers %+v, want %+v", callers, wantCallers)
	}
	got := map[string]event.HTTP{}
	for _, h := range out {
		got[h.SpanID] = h
	}
	for child, parent := range map[string]string{"S2": "C1", "C1": "S1", "S1": "C0", "C0": "", "X": ""} {
		h := got[child]
		if h.ParentSpanID != parent {
			t.Errorf("%s: parent %q, want %q", child, h.ParentSpanID, parent)
		}
		wantTrace := "trace-C0"
		if child == "X" {
			wantTrace = "trace-X"
		}
		if h.TraceID != wantTrace {
			t.Errorf("%s: trace %q, want %q", child, h.TraceID, wantTrace)
		}
	}
	if s.Joined != 3 {
		t.Errorf("joined %d links, want 3", s.Joined)
	}
}

func TestStitchHoldsForTheWindowAndBounds(t *testing.T) {
	var n int
	s := NewStitcher(time.Second, 2, func(*event.Event) { n++ })
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		s.Add(ev(span{name: "a", side: event.SideServer, start: int64(i), end: int64(i) + 1}, i), false, t0)
	}
	if n != 1 { // the bound let the oldest go
		t.Fatalf("emitted %d with max 2 held, want 1", n)
	}
	s.Flush(t0.Add(999 * time.Millisecond))
	if n != 1 {
		t.Fatalf("emitted before the window")
	}
	s.Flush(t0.Add(time.Second))
	if n != 3 {
		t.Fatalf("emitted %d after the window, want 3", n)
	}
}

// A span whose request carried a traceparent keeps its header's parent.
func TestStitchKeepsExplicitParents(t *testing.T) {
	var out []event.HTTP
	s := NewStitcher(time.Second, 10, func(e *event.Event) { out = append(out, *e.HTTP) })
	now := time.Unix(1000, 0)
	srv := ev(span{"S", event.SideServer, 2, 2, ep(80), ep(5000), 200, 300}, 0)
	srv.HTTP.ParentSpanID = "fromheader"
	s.Add(srv, true, now)
	s.Add(ev(span{"C", event.SideClient, 1, 1, ep(5000), ep(80), 100, 400}, 1), false, now)
	s.FlushAll()
	if out[0].ParentSpanID != "fromheader" || out[0].TraceID != "trace-S" {
		t.Errorf("explicit parent overridden: %+v", out[0])
	}
}

// Spans are reused once they left, but not while a held child can still
// read them: parents that leave first, new spans added meanwhile, and the
// child still gets its parent's and root's ids.
func TestStitchReusesNoSpanAChildStillReads(t *testing.T) {
	var out []event.HTTP
	s := NewStitcher(time.Hour, 1000, func(e *event.Event) { out = append(out, *e.HTTP) })
	now := time.Unix(1000, 0)
	// The client end arrives first (it may: the two ends are read from
	// different CPUs), so it leaves before the server end that is its
	// child; R, serving, made the call C.
	s.Add(ev(span{"R", event.SideServer, 10, 10, ep(8000), ep(50000), 50, 900}, 0), false, now)
	s.Add(ev(span{"C", event.SideClient, 10, 10, ep(40000), ep(9000), 100, 500}, 1), false, now)
	s.Add(ev(span{"S", event.SideServer, 20, 20, ep(9000), ep(40000), 200, 400}, 2), false, now)
	s.flushOne() // R
	s.flushOne() // C
	if len(s.free) != 0 {
		t.Fatalf("%d spans free while S, held, refers to C and C to R", len(s.free))
	}
	// Spans that would take C's and R's place if they were free.
	s.Add(ev(span{"X", event.SideServer, 30, 30, ep(7000), ep(1000), 1000, 1001}, 3), false, now)
	s.Add(ev(span{"Y", event.SideServer, 30, 30, ep(7000), ep(1001), 1002, 1003}, 4), false, now)
	s.FlushAll()
	for _, h := range out {
		if h.SpanID == "S" && (h.ParentSpanID != "C" || h.TraceID != "trace-R") {
			t.Errorf("S left with parent %q, trace %q; want C, trace-R", h.ParentSpanID, h.TraceID)
		}
	}
	// S's leaving freed C and R too: every span is free now.
	if len(s.free) != 5 || len(out) != 5 {
		t.Errorf("%d spans free, %d left; want 5 and 5", len(s.free), len(out))
	}
}

// Linking must not cost a scan of everything held: with 50k events of one
// busy process held, the per-event cost stays bounded.
func BenchmarkStitchAdd(b *testing.B) {
	s := NewStitcher(time.Hour, 1<<30, func(*event.Event) {})
	now := time.Unix(1000, 0)
	for i := range 50000 {
		s.Add(ev(span{"w", event.SideServer, 1, uint32(i % 8), ep(80), ep(uint16(i)), int64(i), int64(i + 10)}, i), false, now)
	}
	b.ResetTimer()
	for i := range b.N {
		s.Add(ev(span{"x", event.SideClient, 1, uint32(i % 8), ep(uint16(i)), ep(80), int64(i), int64(i + 5)}, i), false, now)
		s.flushOne()
	}
}

// wrk against a server on the node: 32 keep-alive connections, both ends
// traced, the server's span of each exchange arriving before the client's
// (the server writes the response before the client has read it). A server
// span finds no parent yet among the client spans held on its connection.
func BenchmarkStitchKeepAlive(b *testing.B) {
	var joined int
	s := NewStitcher(time.Hour, 1<<30, func(e *event.Event) {
		if e.HTTP.ParentSpanID != "" {
			joined++
		}
	})
	now := time.Unix(1000, 0)
	const conns = 32
	exchange := func(i int) {
		c := uint16(40000 + i%conns)
		t := int64(i) * 1000
		s.Add(ev(span{"srv", event.SideServer, 2, 2, ep(8080), ep(c), t + 100, t + 800}, i), false, now)
		s.Add(ev(span{"wrk", event.SideClient, 1, uint32(1 + i%2), ep(c), ep(8080), t, t + 900}, i), false, now)
	}
	for i := range conns * 64 {
		exchange(i)
	}
	b.ResetTimer()
	for i := range b.N {
		exchange(conns*64 + i)
		s.flushOne()
		s.flushOne()
	}
	b.StopTimer()
	if joined < b.N {
		b.Fatalf("%d of %d server spans joined to their client", joined, b.N)
	}
}
