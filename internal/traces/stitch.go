package traces

import (
	"hash/maphash"
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
	pending []*pendingSpan // in arrival order
	// Indexes of pending spans, so that linking costs a few comparisons,
	// not one per held span: by connection (client end first) and by
	// process, each split by side ([0] server, [1] client), in arrival
	// order.
	byConn [2]map[uint64][]*pendingSpan // by connHash
	byPID  [2]map[uint32][]*pendingSpan
	// free holds spans that left and that no held span refers to, for
	// reuse: at tens of thousands of events a second, allocating each
	// anew made the garbage collector the stitcher's biggest cost.
	free   []*pendingSpan
	Joined uint64 // links made
	seed   maphash.Seed
}

// connKey names a connection by its client end, then its server end.
type connKey struct{ client, server event.Endpoint }

// sideOf indexes the per-side maps: 0 server, 1 client.
func sideOf(h *event.HTTP) int {
	if h.Side == event.SideServer {
		return 0
	}
	return 1
}

// connHash indexes a span's connection: hashed once per span, where a map
// keyed by the addresses' strings hashed them at every lookup. Spans of
// two connections whose hashes collide (odds of 2^-64 a pair) would share
// a list; link compares the addresses themselves, so they are never
// joined to each other.
func (s *Stitcher) connHash(h *event.HTTP) uint64 {
	k := connKey{h.Local, h.Peer}
	if h.Side == event.SideServer {
		k = connKey{h.Peer, h.Local}
	}
	return maphash.Comparable(s.seed, k)
}

type pendingSpan struct {
	ev         event.Event
	http       event.HTTP
	caller     event.Caller // the client end, for a server span joined to one
	start, end int64        // wall clock ns
	conn       uint64       // connHash
	arrived    time.Time
	parent     *pendingSpan
	explicit   bool // the request carried a traceparent: keep its parent
	hasParent  bool
	// refs counts the held spans whose parent this is: a child takes its
	// parent's ids, and its root's, when it leaves, so a span that left
	// is reused only once refs is 0.
	refs int
	left bool
}

// NewStitcher hands events on to emit after holding them for window. At
// most max events are held; beyond, the oldest goes out unjoined.
func NewStitcher(window time.Duration, max int, emit func(*event.Event)) *Stitcher {
	s := &Stitcher{window: window, max: max, emit: emit, seed: maphash.MakeSeed()}
	for i := range 2 {
		s.byConn[i] = make(map[uint64][]*pendingSpan)
		s.byPID[i] = make(map[uint32][]*pendingSpan)
	}
	return s
}

// Add takes a copy of an http event (ids already assigned: explicit says
// they came from a traceparent header) and links it to what is held.
func (s *Stitcher) Add(ev *event.Event, explicit bool, now time.Time) {
	p := s.newSpan()
	*p = pendingSpan{ev: *ev, http: *ev.HTTP, arrived: now, explicit: explicit}
	p.ev.HTTP = &p.http
	p.start = ev.Time.UnixNano()
	p.end = p.start + int64(ev.HTTP.DurationNs)
	p.conn = s.connHash(&p.http)
	k, pid, side := p.conn, p.ev.Process.PID, sideOf(&p.http)
	other := 1 - side
	// Same connection, other end: the server end is the child. Newest
	// first: exchanges on a connection follow each other, and the match is
	// usually the latest.
	conn := recent(s.byConn[other][k])
	for i := len(conn) - 1; i >= 0; i-- {
		q := conn[i]
		// HTTP/1 exchanges on a connection follow each other (pipelined
		// ones too: responses come in order), so once one lies wholly
		// before p's start, every older one does: no parent (p the
		// server end) contains p's start, no child (p the client end)
		// starts inside p.
		if side == 0 && q.end < p.start || side == 1 && q.start < p.start {
			break
		}
		if side == 0 {
			s.link(p, q)
		} else {
			s.link(q, p)
		}
		if p.hasParent && side == 0 || q.hasParent && q.parent == p {
			break
		}
	}
	// Same process, other kind: the client call is the child.
	procs := recent(s.byPID[other][pid])
	for i := len(procs) - 1; i >= 0; i-- {
		if side == 0 {
			s.link(procs[i], p)
		} else {
			s.link(p, procs[i])
		}
	}
	s.pending = append(s.pending, p)
	s.byConn[side][k] = append(s.byConn[side][k], p)
	s.byPID[side][pid] = append(s.byPID[side][pid], p)
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
	c, p := &child.http, &parent.http
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
	parent.refs++
	s.Joined++
}

// otherServerOnThread reports whether a held server span of the child's
// process and thread contains it: then that one is the parent, not a span
// of another thread.
func (s *Stitcher) otherServerOnThread(child *pendingSpan) bool {
	list := s.byPID[0][child.ev.Process.PID]
	if len(list) > maxScanThread {
		list = list[len(list)-maxScanThread:]
	}
	for _, q := range list {
		if q.ev.Process.TID == child.ev.Process.TID && q.start <= child.start && child.start <= q.end {
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
	side := sideOf(&p.http)
	unindex(s.byConn[side], p.conn, p)
	unindex(s.byPID[side], p.ev.Process.PID, p)
	if p.hasParent {
		p.http.ParentSpanID = p.parent.http.SpanID
		p.http.TraceID = root(p).http.TraceID
		if p.http.Side == event.SideServer && p.parent.http.Side == event.SideClient {
			// The edge of the service graph: its client's service is
			// named downstream, with the process.
			c := &p.parent.http
			p.caller = event.Caller{PID: p.parent.ev.Process.PID, Status: c.Status, DurationNs: c.DurationNs}
			p.http.Caller = &p.caller
		}
	}
	s.emit(&p.ev)
	// Children still held take their trace from their parent when they go.
	p.left = true
	s.recycle(p)
}

func (s *Stitcher) newSpan() *pendingSpan {
	if n := len(s.free); n > 0 {
		p := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		return p
	}
	return new(pendingSpan)
}

// recycle puts p on the free list once it has left and no held span refers
// to it, and then its ancestors that only p kept.
func (s *Stitcher) recycle(p *pendingSpan) {
	for p != nil && p.left && p.refs == 0 {
		parent := p.parent
		*p = pendingSpan{} // let go of the event's strings
		if len(s.free) < s.max {
			s.free = append(s.free, p)
		}
		if parent == nil {
			return
		}
		parent.refs--
		p = parent
	}
}

// unindex removes p from its list in m.
func unindex[K comparable](m map[K][]*pendingSpan, k K, p *pendingSpan) {
	if l := unindexList(m[k], p); len(l) > 0 {
		m[k] = l
	} else {
		delete(m, k)
	}
}

// maxScan bounds how many of a process's held spans a new span is compared
// with: the latest ones. A busy server holds thousands; a call and the
// request it serves arrive close together, so far older spans rarely
// matter, and the work per event stays bounded.
const maxScan = 64

// maxScanThread bounds the look for a same-thread parent, which runs per
// candidate pair.
const maxScanThread = 32

func recent(list []*pendingSpan) []*pendingSpan {
	if len(list) > maxScan {
		return list[len(list)-maxScan:]
	}
	return list
}

// unindexList removes p from list. Spans leave in arrival order, so p is
// almost always first, which costs nothing.
func unindexList(list []*pendingSpan, p *pendingSpan) []*pendingSpan {
	if len(list) > 0 && list[0] == p {
		list[0] = nil
		return list[1:]
	}
	for i, q := range list {
		if q == p {
			copy(list[i:], list[i+1:])
			list[len(list)-1] = nil
			return list[:len(list)-1]
		}
	}
	return list
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
