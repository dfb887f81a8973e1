package traces

import (
	"time"

	"github.com/vigil-dev/vigil/internal/event"
)

// Stitcher joins the spans of http events seen on this node into traces,
// without any header: the server end of a connection becomes the child of
// its client end (same connection, mirrored addresses, inside its time
// window), and a client request a server makes while serving one becomes
// the child of that server span. Events are held for a window, because a
// parent completes after its children (the client reads the response after
// the server wrote it; a server answers after its own calls returned), then
// handed on with their trace ids settled.
//
// What cannot be joined: ends behind NAT or a proxy on another address;
// a parent that completes more than the window after its child; and in
// runtimes that serve several requests at once on one thread, or move a
// request between threads (Go), a client call is given to the serving span
// of the same thread, else to the earliest serving span of the process that
// contains it, which may be the wrong one.
type Stitcher struct {
	window  time.Duration
	max     int
	emit    func(*event.Event)
	pending []*pendingSpan
	Joined  uint64 // links made
}

type pendingSpan struct {
	ev         event.Event
	http       event.HTTP
	start, end int64 // wall clock ns
	arrived    time.Time
	parent     *pendingSpan
	explicit   bool // the request carried a traceparent: keep its parent
	hasParent  bool
}

// NewStitcher hands events on to emit after holding them for window. At
// most max events are held; beyond, the oldest goes out unjoined.
func NewStitcher(window time.Duration, max int, emit func(*event.Event)) *Stitcher {
	return &Stitcher{window: window, max: max, emit: emit}
}

// Add takes a copy of an http event (ids already assigned: explicit says
// they came from a traceparent header) and links it to what is held.
func (s *Stitcher) Add(ev *event.Event, explicit bool, now time.Time) {
	p := &pendingSpan{ev: *ev, http: *ev.HTTP, arrived: now, explicit: explicit}
	p.ev.HTTP = &p.http
	p.start = ev.Time.UnixNano()
	p.end = p.start + int64(ev.HTTP.DurationNs)
	for _, q := range s.pending {
		s.link(p, q)
		s.link(q, p)
	}
	s.pending = append(s.pending, p)
	if len(s.pending) > s.max {
		s.flushOne()
	}
}

// link makes parent the parent of child when they are the two ends of one
// node-local exchange, or when child is a call made while parent served.
func (s *Stitcher) link(child, parent *pendingSpan) {
	if child.hasParent || child.explicit || child == parent {
		return
	}
	c, p := child.http, parent.http
	// The child starts inside the parent. Ends are not compared: the two
	// ends of a connection run on different CPUs, and a client can finish
	// reading a response before the server's write call has returned.
	if child.start < parent.start || child.start > parent.end {
		return
	}
	switch {
	case c.Side == event.SideServer && p.Side == event.SideClient:
		if c.Peer != p.Local || c.Local != p.Peer {
			return
		}
	case c.Side == event.SideClient && p.Side == event.SideServer:
		if child.ev.Process.PID != parent.ev.Process.PID {
			return
		}
		if child.ev.Process.TID != parent.ev.Process.TID && s.otherServerOnThread(child) {
			return
		}
	default:
		return
	}
	child.parent, child.hasParent = parent, true
	s.Joined++
}

// otherServerOnThread reports whether a held server span of the child's
// process and thread contains it: then that one is the parent, not a span
// of another thread.
func (s *Stitcher) otherServerOnThread(child *pendingSpan) bool {
	for _, q := range s.pending {
		if q.http.Side == event.SideServer && q.ev.Process.PID == child.ev.Process.PID &&
			q.ev.Process.TID == child.ev.Process.TID && q.start <= child.start && child.start <= q.end {
			return true
		}
	}
	return false
}

// Flush hands on the events held for at least the window.
func (s *Stitcher) Flush(now time.Time) {
	for len(s.pending) > 0 && now.Sub(s.pending[0].arrived) >= s.window {
		s.flushOne()
	}
}

// FlushAll hands on everything held (at shutdown).
func (s *Stitcher) FlushAll() {
	for len(s.pending) > 0 {
		s.flushOne()
	}
}

func (s *Stitcher) flushOne() {
	p := s.pending[0]
	s.pending[0] = nil
	s.pending = s.pending[1:]
	if p.hasParent {
		p.http.ParentSpanID = p.parent.http.SpanID
		p.http.TraceID = root(p).http.TraceID
	}
	s.emit(&p.ev)
	// Children still held take their trace from their parent when they go.
}

// root follows parents up; links only go to spans that started earlier, so
// there is no cycle, but the walk is bounded anyway.
func root(p *pendingSpan) *pendingSpan {
	for range 64 {
		if !p.hasParent {
			return p
		}
		p = p.parent
	}
	return p
}
