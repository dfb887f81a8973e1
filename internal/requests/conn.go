// Package requests assembles the HTTP/1 messages of both directions of a
// connection into request/response exchanges.
//
// A Conn owns one request parser and one response parser. Requests are
// queued in order and each response is paired with the request the response
// parser says it answers (http1.Message.Answers), which keeps pipelined
// requests, early responses and lost bytes from shifting every later pair.
package requests

import (
	"fmt"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/protocols/http1"
)

// Side says which end of the connection the traced process is.
type Side int

// Sides.
const (
	// Server: the process reads requests (ingress) and writes responses.
	Server Side = iota
	// Client: the process writes requests (egress) and reads responses.
	Client
)

// String returns the side as the http event's "side" field spells it.
func (s Side) String() string {
	switch s {
	case Server:
		return event.SideServer
	case Client:
		return event.SideClient
	}
	return fmt.Sprintf("Side(%d)", int(s))
}

// ConnInfo identifies a connection and the process that owns it.
type ConnInfo struct {
	ID          uint64
	PID, TID    uint32
	Side        Side
	Local, Peer event.Endpoint
}

// Exchange is one request and its response. The connection reuses it: it
// is valid only while the emit function it is passed to runs (Clone keeps
// one).
type Exchange struct {
	Conn *ConnInfo
	// Req and Resp are the messages, owned by the exchange. Req.Target is
	// raw and may carry secrets in its query: export Path instead. Either
	// may be incomplete (Complete false) when the stream ended or lost
	// framing after its headers.
	Req, Resp *http1.Message
	// StartNs is when the process began the exchange: the server read the
	// request's first bytes (exit of that read), or the client began
	// writing it (entry of that write). EndNs is when the response's last
	// byte crossed the syscall boundary (exit of that write or read).
	StartNs, EndNs uint64
	Status         int
	Method         string
	// Path is the request target without query string and fragment; for
	// an absolute-form target (to a proxy), without scheme and authority.
	Path string
	// Host is the Host header or, failing that, the authority of an
	// absolute-form target.
	Host                        string
	ReqBodyBytes, RespBodyBytes uint64
}

// Clone returns a copy of x that stays valid.
func (x *Exchange) Clone() *Exchange {
	b := &exchangeBuf{x: *x, req: *x.Req, resp: *x.Resp}
	b.x.Req, b.x.Resp = &b.req, &b.resp
	return &b.x
}

// exchangeBuf holds an exchange and its messages together.
type exchangeBuf struct {
	x         Exchange
	req, resp http1.Message
}

// MaxOutstanding bounds the requests a connection holds while they wait for
// a response; beyond it the oldest is dropped (and counted). It matches what
// the response parser remembers.
const MaxOutstanding = http1.MaxPipelined

// Stats counts what a connection's assembly saw.
type Stats struct {
	// Exchanges counts exchanges emitted.
	Exchanges uint64
	// Unanswered counts requests dropped without a response: still waiting
	// at Close, or skipped because their responses were lost (the response
	// stream lost framing, or they were never captured).
	Unanswered uint64
	// Overflow counts requests dropped because MaxOutstanding requests were
	// already waiting.
	Overflow uint64
	// Orphans counts responses that answered no known request.
	Orphans uint64
	// Requests and Responses are the parsers' counters.
	Requests, Responses http1.Stats
}

// pending is a request waiting for its response.
type pending struct {
	num uint64 // its ExpectResponseTo call number
	msg http1.Message
}

// Conn assembles the exchanges of one connection. It is fed from one
// goroutine; it is not safe for concurrent use.
type Conn struct {
	info      *ConnInfo
	req, resp *http1.Parser

	// calls counts ExpectResponseTo calls on resp, numbered as resp numbers
	// them (both restart at Close).
	calls uint64
	// queue[head:] are the requests waiting for a response, oldest first.
	queue []pending
	head  int

	// early is a response framed while no request was waiting: either the
	// server answered before the request was complete, or the request was
	// never seen. The next request decides which.
	early    http1.Message
	hasEarly bool

	stats Stats

	// out is the exchange handed to emit, reused: one per request would
	// be the pipeline's largest allocation.
	out exchangeBuf
}

// NewConn returns the assembly of one connection.
func NewConn(info ConnInfo) *Conn {
	c := &Conn{
		info: &info,
		req:  http1.NewRequestParser(),
		resp: http1.NewResponseParser(),
	}
	if info.Side == Client {
		c.req.SetDirection(http1.Egress)
		c.resp.SetDirection(http1.Ingress)
	}
	return c
}

// SetBudget has both parsers reserve the header blocks they buffer from b,
// shared with other connections (see http1.Budget).
func (c *Conn) SetBudget(b *http1.Budget) {
	c.req.SetBudget(b)
	c.resp.SetBudget(b)
}

// Release lets go of what the parsers buffer, when the connection is
// dropped without Close.
func (c *Conn) Release() {
	c.req.Release()
	c.resp.Release()
}

// Info returns the connection's identity.
func (c *Conn) Info() *ConnInfo { return c.info }

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	s := c.stats
	s.Requests = c.req.Stats()
	s.Responses = c.resp.Stats()
	return s
}

// Ingress feeds a chunk the process read, calling emit for each exchange it
// completes. The exchange is the callee's to keep.
func (c *Conn) Ingress(ch http1.Chunk, emit func(*Exchange)) {
	if c.info.Side == Server {
		c.feedRequests(ch, emit)
	} else {
		c.feedResponses(ch, emit)
	}
}

// Egress feeds a chunk the process wrote, like Ingress.
func (c *Conn) Egress(ch http1.Chunk, emit func(*Exchange)) {
	if c.info.Side == Server {
		c.feedResponses(ch, emit)
	} else {
		c.feedRequests(ch, emit)
	}
}

// Close ends the connection at ts (CLOCK_BOOTTIME ns). A close-delimited
// response completes; requests still without a response are dropped and
// counted. The Conn may then be fed a new connection's chunks.
func (c *Conn) Close(ts uint64, emit func(*Exchange)) {
	// Requests first: one cut short may still pair with a response.
	c.req.Close(ts, func(m *http1.Message) { c.onRequest(m, emit) })
	c.resp.Close(ts, func(m *http1.Message) { c.onResponse(m, emit) })
	c.stats.Unanswered += uint64(len(c.queue) - c.head)
	if c.hasEarly {
		c.stats.Orphans++
	}
	clear(c.queue)
	c.queue, c.head = c.queue[:0], 0
	c.hasEarly = false
	c.calls = 0
}

func (c *Conn) feedRequests(ch http1.Chunk, emit func(*Exchange)) {
	c.req.Feed(ch, func(m *http1.Message) { c.onRequest(m, emit) })
}

func (c *Conn) feedResponses(ch http1.Chunk, emit func(*Exchange)) {
	c.resp.Feed(ch, func(m *http1.Message) { c.onResponse(m, emit) })
}

func (c *Conn) onRequest(m *http1.Message, emit func(*Exchange)) {
	if c.hasEarly {
		c.hasEarly = false
		// A response cannot begin before its request did: an early
		// response started after this request, one to an unseen request
		// before it.
		if c.early.Start >= m.Start {
			c.pair(m, &c.early, emit)
			return
		}
		c.stats.Orphans++
	}
	c.resp.ExpectResponseTo(m.Method)
	c.calls++
	if len(c.queue)-c.head == MaxOutstanding {
		c.queue[c.head] = pending{}
		c.head++
		c.stats.Overflow++
	}
	if c.head > 0 && len(c.queue) == cap(c.queue) {
		// Reuse the space before head rather than grow.
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
	c.queue = append(c.queue, pending{num: c.calls, msg: *m})
}

func (c *Conn) onResponse(m *http1.Message, emit func(*Exchange)) {
	if m.Answers == 0 {
		if c.hasEarly {
			c.stats.Orphans++
		}
		c.early, c.hasEarly = *m, true
		return
	}
	// Requests before the one answered lost their responses.
	for c.head < len(c.queue) && c.queue[c.head].num < m.Answers {
		c.pop()
		c.stats.Unanswered++
	}
	if c.head == len(c.queue) || c.queue[c.head].num != m.Answers {
		c.stats.Orphans++ // its request overflowed the queue
		return
	}
	req := c.queue[c.head].msg
	c.pop()
	c.pair(&req, m, emit)
}

func (c *Conn) pop() {
	c.queue[c.head] = pending{} // drop the strings it holds
	c.head++
	if c.head == len(c.queue) {
		c.queue, c.head = c.queue[:0], 0
	}
}

// pair emits the exchange of req and resp.
func (c *Conn) pair(req, resp *http1.Message, emit func(*Exchange)) {
	b := &c.out
	*b = exchangeBuf{req: *req, resp: *resp}
	x := &b.x
	x.Conn = c.info
	x.Req, x.Resp = &b.req, &b.resp
	if c.info.Side == Server {
		x.StartNs = req.FirstExit
	} else {
		x.StartNs = req.FirstEnter
	}
	x.EndNs = resp.LastExit
	x.Status = resp.Status
	x.Method = req.Method
	var authority string
	x.Path, authority = splitTarget(req.Target)
	x.Host = withoutUserinfo(req.Host)
	if x.Host == "" {
		x.Host = authority
	}
	x.ReqBodyBytes, x.RespBodyBytes = req.BodyBytes, resp.BodyBytes
	c.stats.Exchanges++
	if resp.Tunnel {
		// The client's next bytes belong to the tunnel or the new protocol.
		c.req.StartTunnel()
	}
	emit(x)
}
