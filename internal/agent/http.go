package agent

import (
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/proc"
	"github.com/vigil-dev/vigil/internal/protocols/http1"
	"github.com/vigil-dev/vigil/internal/requests"
	"github.com/vigil-dev/vigil/internal/selfmetrics"
	"github.com/vigil-dev/vigil/internal/sensors/process"
	"github.com/vigil-dev/vigil/internal/sensors/sockdata"
	"github.com/vigil-dev/vigil/internal/tracecontext"
	"github.com/vigil-dev/vigil/internal/traces"
)

// httpConn is one tracked connection and its assembly.
type httpConn struct {
	asm      *requests.Conn
	lastSeen uint64 // CLOCK_BOOTTIME ns of its last record
}

// procCache is a process as the table knew it, and the table's version of
// it: Lookup copies argv, too much to do per request.
type procCache struct {
	proc    event.Process
	version uint64
}

// httpStats count what the HTTP stage could not use. orphanData and
// evicted are vigil_events_dropped_total stages; the parse counters of
// ended connections are vigil_http_parse_errors_total (register).
type httpStats struct {
	orphanData atomic.Uint64 // data of a connection whose open record was lost
	evicted    atomic.Uint64 // connections dropped at the MaxConns cap

	unknown    atomic.Uint64 // message starts that were not HTTP/1
	overBudget atomic.Uint64 // partial header blocks given up for the shared budget

	memoryReturns atomic.Uint64 // floods of connections whose memory was handed back
	desyncs       atomic.Uint64 // framing lost (malformed, oversized, uncaptured framing bytes)
	incomplete    atomic.Uint64 // messages cut short
	unanswered    atomic.Uint64 // requests that never got a response
	orphans       atomic.Uint64 // responses to no known request
}

// add folds the counters of an ended connection into the totals.
func (s *httpStats) add(c requests.Stats) {
	s.unknown.Add(c.Requests.Unknown + c.Responses.Unknown)
	s.overBudget.Add(c.Requests.OverBudget + c.Responses.OverBudget)
	s.desyncs.Add(c.Requests.Desyncs + c.Responses.Desyncs)
	s.incomplete.Add(c.Requests.Incomplete + c.Responses.Incomplete)
	s.unanswered.Add(c.Unanswered + c.Overflow)
	s.orphans.Add(c.Orphans)
}

// httpStage turns sockdata records into http events: it assembles the
// exchanges of each connection, gives them trace context and holds them
// in the stitcher, which hands them on to out. It runs on the agent's
// pipeline goroutine and is not safe for concurrent use.
type httpStage struct {
	table    *proc.Table
	clock    bpfrt.Clock
	maxConns int
	budget   *http1.Budget // shared by every connection's parsers
	ids      *tracecontext.IDs
	stitch   *traces.Stitcher

	conns map[uint64]*httpConn
	byPID map[uint32]map[uint64]struct{}
	procs map[uint32]*procCache
	// exited holds processes that exited with connections still open, and
	// when (CLOCK_BOOTTIME ns). Their connections are closed by sweep, not
	// at once: exit records come from another ring buffer than socket
	// records, so the last data of a connection may still be on its way.
	exited        map[uint32]uint64
	lastIdleSweep uint64
	// peakConns is the most connections held since memory was last
	// handed back (lastReturn, CLOCK_BOOTTIME ns): see returnMemory.
	peakConns  int
	lastReturn uint64
	stats      httpStats

	// Reused for every exchange: sinks must not keep events.
	ev      event.Event
	payload event.HTTP
	onExch  func(*requests.Exchange)
}

// newHTTPStage assembles at most maxConns connections (default 65536),
// whose partial header blocks hold at most headerBytes in all (default
// DefaultHeaderBudget), and hands each exchange, once the stitcher lets it
// go, to out.
func newHTTPStage(table *proc.Table, clock bpfrt.Clock, maxConns, headerBytes int, out func(*event.Event)) *httpStage {
	if maxConns <= 0 {
		maxConns = 65536
	}
	if headerBytes <= 0 {
		headerBytes = DefaultHeaderBudget
	}
	p := &httpStage{
		table:    table,
		clock:    clock,
		maxConns: maxConns,
		budget:   http1.NewBudget(headerBytes),
		conns:    make(map[uint64]*httpConn),
		byPID:    make(map[uint32]map[uint64]struct{}),
		procs:    make(map[uint32]*procCache),
		exited:   make(map[uint32]uint64),
		ids:      tracecontext.NewIDs(),
	}
	p.stitch = traces.NewStitcher(stitchWindow, maxStitchHeld, out)
	p.onExch = p.exchange // one closure for the pipeline's life, not per record
	return p
}

var (
	parseErrors = selfmetrics.NewCounter("vigil_http_parse_errors_total",
		"Problems met assembling HTTP exchanges, counted when the connection ends.", "reason")
)

// register adds the stage's metrics: what it dropped, and what it could
// not parse.
func (p *httpStage) register(m *selfmetrics.Set) {
	m.Add(selfmetrics.Dropped, p.stats.orphanData.Load, "http_orphan_data")
	m.Add(selfmetrics.Dropped, p.stats.evicted.Load, "http_conn_evicted")
	for _, c := range []struct {
		reason string
		n      *atomic.Uint64
	}{
		{"unknown", &p.stats.unknown}, {"desync", &p.stats.desyncs}, {"incomplete", &p.stats.incomplete},
		{"unanswered", &p.stats.unanswered}, {"orphan_response", &p.stats.orphans},
		{"over_budget", &p.stats.overBudget},
	} {
		m.Add(parseErrors, c.n.Load, c.reason)
	}
}

func (p *httpStage) handle(rec *sockdata.Record) {
	switch rec.Type {
	case bpfrt.RecordConnOpen:
		p.open(rec)
	case bpfrt.RecordData:
		c := p.conns[rec.ConnID]
		if c == nil {
			p.stats.orphanData.Add(1)
			return
		}
		ch := http1.Chunk{Pos: rec.Pos, Size: rec.Size, Data: rec.Data, Enter: rec.EnterNs, Exit: rec.ExitNs, TID: rec.TID}
		c.lastSeen = rec.ExitNs
		if rec.Direction == sockdata.Ingress {
			c.asm.Ingress(ch, p.onExch)
		} else {
			c.asm.Egress(ch, p.onExch)
		}
	case bpfrt.RecordConnClose:
		p.close(rec.ConnID, rec.KtimeNs)
	}
}

func (p *httpStage) open(rec *sockdata.Record) {
	if old := p.conns[rec.ConnID]; old != nil {
		p.close(rec.ConnID, rec.KtimeNs)
	}
	if len(p.conns) >= p.maxConns {
		// Evict one connection; map order is random, which is fair enough
		// when the cap is only reached under abuse or leaks.
		for id := range p.conns {
			p.drop(id)
			p.stats.evicted.Add(1)
			break
		}
	}
	side := requests.Server
	if rec.Side == sockdata.Client {
		side = requests.Client
	}
	c := &httpConn{lastSeen: rec.KtimeNs, asm: requests.NewConn(requests.ConnInfo{
		ID: rec.ConnID, PID: rec.PID, TID: rec.TID, Side: side, Local: rec.Local, Peer: rec.Peer,
	})}
	c.asm.SetBudget(p.budget)
	p.conns[rec.ConnID] = c
	ids := p.byPID[rec.PID]
	if ids == nil {
		ids = make(map[uint64]struct{})
		p.byPID[rec.PID] = ids
	}
	ids[rec.ConnID] = struct{}{}
}

// close ends a connection: a close-delimited response completes.
func (p *httpStage) close(id, ts uint64) {
	c := p.conns[id]
	if c == nil {
		return
	}
	c.asm.Close(ts, p.onExch)
	p.drop(id)
}

func (p *httpStage) drop(id uint64) {
	c := p.conns[id]
	if c == nil {
		return
	}
	c.asm.Release()
	delete(p.conns, id)
	p.stats.add(c.asm.Stats())
	pid := c.asm.Info().PID
	if ids := p.byPID[pid]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(p.byPID, pid)
		}
	}
}

// DefaultHeaderBudget bounds the bytes of header blocks that span
// syscalls, buffered for every connection together: 1024 connections at
// once midway through a 16 KiB block. A slow sender, or a flood of
// connections that never finish their headers, costs that at most; past
// it, the partial blocks held longest are given up and counted
// (vigil_http_parse_errors_total{reason="over_budget"}).
const DefaultHeaderBudget = 16 << 20

// exitGrace is how long connections of an exited process are kept for
// records still in flight in the socket ring buffer.
const exitGrace = 2 * time.Second

// processExited notes the exit of a process: connections it did not close
// (the kernel closes a dying process's fds with no close(2) to see) are
// closed by sweep after exitGrace. Other records, and a nil stage, do
// nothing.
func (p *httpStage) processExited(rec *process.Record) {
	if p == nil || rec.Event.Kind != event.KindExit {
		return
	}
	p.exitedAt(rec.Event.Process.PID, rec.StartNs+rec.Event.Exit.DurationNs)
}

// exitedAt notes that pid exited at ts (CLOCK_BOOTTIME ns).
func (p *httpStage) exitedAt(pid uint32, ts uint64) {
	if len(p.byPID[pid]) > 0 {
		p.exited[pid] = ts
	}
}

// flushAll hands on every exchange the stitcher holds (at shutdown).
func (p *httpStage) flushAll() {
	if p != nil {
		p.stitch.FlushAll()
	}
}

// idleTimeout drops connections that carried nothing for this long: the
// kernel map is an LRU, and a connection it evicted never sends a close.
const idleTimeout = 15 * time.Minute

// sweep closes the connections of processes that exited before now minus
// exitGrace, and those idle for idleTimeout, and hands on held events.
func (p *httpStage) sweep(now uint64) {
	defer p.returnMemory(now)
	p.stitch.Flush(time.Now())
	for pid := range p.procs {
		if _, ok := p.byPID[pid]; !ok {
			delete(p.procs, pid) // refilled on demand by events still held
		}
	}
	if now > uint64(idleTimeout) && now-p.lastIdleSweep > uint64(time.Minute) {
		p.lastIdleSweep = now
		idleBefore := now - uint64(idleTimeout)
		for id, c := range p.conns {
			if c.lastSeen < idleBefore {
				p.close(id, now)
			}
		}
	}
	for pid, ts := range p.exited {
		if now < ts+uint64(exitGrace) {
			continue
		}
		for id := range p.byPID[pid] {
			p.close(id, ts)
		}
		delete(p.exited, pid)
	}
}

// floodConns is how many connections at once make a flood whose end is
// worth handing memory back for.
const floodConns = 1024

// returnMemory hands the memory of a flood of connections back to the
// system once most of them have ended. The Go runtime would keep it: its
// collector runs when the heap grows, and an agent that goes quiet after a
// flood allocates little, so the garbage of thousands of connections (and
// their partial header blocks) stayed resident for minutes. One forced
// collection per flood, at most every 10 s, is cheap next to that.
func (p *httpStage) returnMemory(now uint64) {
	n := len(p.conns)
	p.peakConns = max(p.peakConns, n)
	if p.peakConns < floodConns || n > p.peakConns/2 || now-p.lastReturn < uint64(10*time.Second) {
		return
	}
	debug.FreeOSMemory()
	p.peakConns, p.lastReturn = n, now
	p.stats.memoryReturns.Add(1)
}

// stitchWindow is how long http events are held so that the spans of a
// node-local call chain can be joined (see traces.Stitcher); maxStitchHeld
// bounds how many are held.
const (
	stitchWindow  = time.Second
	maxStitchHeld = 16384
)

// traceContext gives the exchange its span: a server span joins the trace
// of an incoming traceparent as a child of the span that sent it; a client
// request that carries a traceparent (the application propagates context)
// is that span; anything else starts a trace of its own.
func (p *httpStage) traceContext(x *requests.Exchange, h *event.HTTP) (fromHeader bool) {
	parent, ok := tracecontext.Parse(x.Req.Traceparent)
	switch {
	case ok && x.Conn.Side == requests.Server:
		h.TraceID = parent.TraceID.String()
		h.ParentSpanID = parent.SpanID.String()
		h.SpanID = p.ids.SpanID().String()
	case ok:
		h.TraceID = parent.TraceID.String()
		h.SpanID = parent.SpanID.String()
	default:
		h.TraceID = p.ids.TraceID().String()
		h.SpanID = p.ids.SpanID().String()
	}
	return ok
}

// process returns pid as the process table knows it now. Records of
// processes and of sockets come through different ring buffers, so a
// connection can be seen before the exec of its process; asking the table
// when the event leaves the stitcher, a second later, gets it right.
func (p *httpStage) process(pid uint32) event.Process {
	version, known := p.table.Version(pid)
	pc := p.procs[pid]
	if pc != nil && known && pc.version == version {
		return pc.proc
	}
	pr, ok := p.table.Lookup(pid)
	if !ok {
		pr = event.Process{PID: pid, Args: []string{}}
		p.table.Fill(&pr)
	}
	if pc == nil {
		pc = &procCache{}
		p.procs[pid] = pc
	}
	pc.proc, pc.version = pr, version
	return pr
}

// enrich completes an event the stitcher hands on with the process as the
// table knows it now, and names the service of its node-local caller.
func (p *httpStage) enrich(ev *event.Event) {
	tid := ev.Process.TID
	ev.Process = p.process(ev.Process.PID)
	ev.Process.TID = tid
	if c := ev.HTTP.Caller; c != nil {
		c.Service = p.process(c.PID).Service
	}
}

func (p *httpStage) exchange(x *requests.Exchange) {
	ev := &p.ev
	*ev = event.Event{Time: p.clock.Time(x.StartNs), Kind: event.KindHTTP, Process: event.Process{PID: x.Conn.PID}}
	// The thread that read (server) or wrote (client) the request.
	ev.Process.TID = x.Req.TID
	if ev.Process.TID == 0 {
		ev.Process.TID = x.Conn.TID
	}
	requests.ToEvent(x, &p.payload)
	ev.HTTP = &p.payload
	fromHeader := p.traceContext(x, ev.HTTP)
	now := time.Now()
	p.stitch.Add(ev, fromHeader, now)
	p.stitch.Flush(now)
}
