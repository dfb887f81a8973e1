package http1

import "bytes"

// state is where the parser is in the stream.
type state uint8

const (
	stStart      state = iota // between messages: the next byte begins one
	stHeader                  // start line and header fields, up to the blank line
	stBody                    // Content-Length body: remaining bytes left
	stChunkSize               // hex digits of a chunk-size line
	stChunkExt                // rest of a chunk-size line (extensions), up to LF
	stChunkData               // chunk data: remaining bytes left
	stChunkEnd                // the CRLF after chunk data
	stTrailer                 // trailer fields after the last chunk, up to the blank line
	stUntilClose              // close-delimited response body
	stTunnel                  // no longer HTTP/1: CONNECT tunnel or upgraded protocol
	stResync                  // framing lost: waiting for a chunk that begins a message
)

// Parser parses the messages of one direction of one connection: requests
// or responses. Create it with NewRequestParser or NewResponseParser.
type Parser struct {
	request bool
	dir     Direction

	st          state
	anchored    bool   // pos is known: a chunk has been fed
	pos         uint64 // stream position of the next byte
	enter, exit uint64 // timestamps of the chunk being fed
	tid         uint32 // thread of the chunk being fed

	msg     Message
	inMsg   bool   // msg holds a message begun and not yet emitted
	framed  bool   // msg's header block is parsed, so it can be emitted even if incomplete
	probing bool   // msg began at a resync point: if it is not HTTP, that is not counted again
	closeTs uint64 // end of the stream, for a close-delimited body

	// hdr holds a header block that spans chunks, at most MaxHeaderBytes.
	// It is nil while the block is parsed straight from a chunk's data,
	// and let go as soon as its block is parsed or given up.
	hdr []byte
	// budget, when set, is shared with the parsers of other connections:
	// held (hdr's capacity) is reserved from it while hdr is in use, and
	// older/newer link the budget's holders.
	budget       *Budget
	held         int
	older, newer *Parser

	remaining  uint64 // bytes left in a Content-Length body or the current chunk
	chunkLen   uint64 // chunk size being parsed
	lineLen    int    // bytes of the current chunk-size or trailer line
	trailerLen int    // bytes of trailer fields so far
	sawCR      bool   // the CR after chunk data has been seen

	// Response parsers only.
	expect  expectQueue
	assumed bool // the response in progress was framed with no request pending
	lost    bool // framing was lost: responses to pending requests may have gone with it

	stats Stats
}

// NewRequestParser returns a parser for the requests of a connection. Its
// direction defaults to Ingress, as on a server.
func NewRequestParser() *Parser {
	return &Parser{request: true, dir: Ingress}
}

// NewResponseParser returns a parser for the responses of a connection. Its
// direction defaults to Egress, as on a server.
func NewResponseParser() *Parser {
	return &Parser{dir: Egress}
}

// SetDirection says whether the process reads (Ingress) or writes (Egress)
// this stream; it decides Message.Start.
func (p *Parser) SetDirection(d Direction) { p.dir = d }

// SetBudget has the parser reserve what it buffers from b, shared with
// other parsers. Set it before the first Feed.
func (p *Parser) SetBudget(b *Budget) { p.budget = b }

// Release lets go of what the parser buffers, and its share of the budget,
// when it will not be fed again (its connection was dropped).
func (p *Parser) Release() { p.drop() }

// Stats returns the parser's counters.
func (p *Parser) Stats() Stats { return p.stats }

// ExpectResponseTo tells a response parser that a request with this method
// was sent, in order. The method decides the framing of the response: none
// for HEAD, a tunnel after a 2xx to CONNECT. Calls are numbered from 1 (see
// Message.Answers). A request parser ignores it.
func (p *Parser) ExpectResponseTo(method string) {
	if p.request {
		return
	}
	if p.assumed {
		// The response in progress was framed before its request was
		// complete (a server answering before reading a request body):
		// this is that request, too late to change the framing, which
		// only HEAD and CONNECT affect and they have no body.
		p.expect.calls++
		p.msg.Answers = p.expect.calls
		p.assumed = false
		return
	}
	p.expect.push(responseToMethod(method))
}

// StartTunnel stops parsing: what follows is not HTTP/1 (the other
// direction switched protocols). A message in progress is dropped.
func (p *Parser) StartTunnel() {
	p.drop()
	p.st = stTunnel
}

// Feed parses one chunk, calling emit for each message it completes, in
// stream order. The *Message is only valid during the call: copy it to keep
// it.
func (p *Parser) Feed(c Chunk, emit func(*Message)) {
	data := c.Data
	if uint64(len(data)) > uint64(c.Size) {
		data = data[:c.Size] // the capture cannot exceed the syscall
	}
	p.enter, p.exit, p.tid = c.Enter, c.Exit, c.TID
	switch {
	case !p.anchored:
		p.anchored = true
	case c.Pos > p.pos:
		// Records were lost: bytes never seen, which only a body can skip.
		p.skip(c.Pos-p.pos, emit)
	case c.Pos < p.pos:
		// Not the continuation of what was parsed.
		p.desync(false, emit)
	}
	missing := uint64(c.Size) - uint64(len(data))
	first := true
	for len(data) > 0 {
		n := p.step(data, first, emit)
		first = false
		data = data[n:]
	}
	if missing > 0 {
		// Past the capture: bodies are skipped by count, anything else
		// is lost.
		p.skip(missing, emit)
	}
	p.pos = c.Pos + uint64(c.Size)
}

// Close ends the stream at time ts: a close-delimited body is complete, a
// message cut short is emitted incomplete. The parser is then reset for a new
// stream (the counters are kept, ExpectResponseTo numbering restarts).
func (p *Parser) Close(ts uint64, emit func(*Message)) {
	if p.st == stUntilClose {
		p.closeTs = ts
		p.complete(emit)
	} else {
		p.emitIncomplete(emit)
	}
	p.drop() // returns the budget's share
	*p = Parser{request: p.request, dir: p.dir, stats: p.stats, budget: p.budget}
}

// step parses a prefix of data (first: data begins the chunk) and returns
// its length. It returns 0 only after changing state.
func (p *Parser) step(data []byte, first bool, emit func(*Message)) int {
	switch p.st {
	case stResync:
		if first {
			if t := bytes.TrimLeft(data, "\r\n"); len(t) > 0 && p.resyncPoint(t) {
				p.probing = true
				p.st = stStart
				return 0
			}
		}
		return len(data)
	case stTunnel:
		return len(data)
	case stStart:
		// Empty lines before a message are ignored (RFC 9112, 2.2): some
		// clients send a CRLF after a request body.
		i := 0
		for i < len(data) && (data[i] == '\r' || data[i] == '\n') {
			i++
		}
		if i < len(data) {
			p.begin()
		}
		return i
	case stHeader:
		return p.header(data, emit)
	case stBody, stChunkData:
		n := uint64(len(data))
		if n > p.remaining {
			n = p.remaining
		}
		p.body(n, emit)
		return int(n)
	case stUntilClose:
		p.body(uint64(len(data)), emit)
		return len(data)
	default:
		return p.chunkLine(data, emit)
	}
}

// skip accounts for n bytes that are in the stream but not in the capture.
func (p *Parser) skip(n uint64, emit func(*Message)) {
	for n > 0 {
		switch p.st {
		case stResync, stTunnel:
			return
		case stUntilClose:
			p.body(n, emit)
			return
		case stBody, stChunkData:
			k := min(n, p.remaining)
			p.body(k, emit)
			n -= k
		case stChunkEnd:
			// Assume the CRLF the sender must have written after the data.
			need := uint64(2)
			if p.sawCR {
				need = 1
			}
			if n < need {
				p.sawCR = true
				return
			}
			n -= need
			p.nextChunk()
		case stHeader:
			// The rest of the header block was not captured (a block
			// larger than the capture of one syscall: a big cookie or
			// token). What was seen is still a message, reported
			// incomplete so that it pairs with its answer.
			p.cutHeader()
			p.desync(true, emit)
			return
		default:
			// A start line, chunk-size line or trailer we cannot see.
			p.desync(true, emit)
			return
		}
	}
}

// begin starts a message at the byte being parsed.
func (p *Parser) begin() {
	p.msg = Message{
		Request:       p.request,
		ContentLength: -1,
		FirstEnter:    p.enter,
		FirstExit:     p.exit,
		TID:           p.tid,
		LastEnter:     p.enter,
		LastExit:      p.exit,
	}
	p.inMsg = true
	p.framed = false
	p.closeTs = 0
	p.st = stHeader
}

// touch records that the chunk being fed carries bytes of the message.
func (p *Parser) touch() {
	p.msg.LastEnter, p.msg.LastExit = p.enter, p.exit
}

// resyncPoint reports whether a chunk that follows a loss of framing
// begins a message. It is a guess about bytes in the middle of a stream,
// so a request must begin like a standard method or a whole request line:
// a body chunk of lower-case text could start like the beginning of an odd
// method.
func (p *Parser) resyncPoint(b []byte) bool {
	switch p.classify(b) {
	case startYes:
		return true
	case startMaybe:
		return !p.request || knownMethodPrefix(b)
	}
	return false
}

func (p *Parser) classify(b []byte) startMatch {
	if p.request {
		return classifyRequest(b)
	}
	return classifyResponse(b)
}

// header collects the header block. Most blocks sit whole in one chunk and
// are parsed in place; others are buffered, up to MaxHeaderBytes.
func (p *Parser) header(data []byte, emit func(*Message)) int {
	p.touch()
	old := len(p.hdr)
	if old == 0 {
		if end := headerEnd(data, 0, MaxHeaderBytes); end > 0 {
			p.headerDone(data[:end], emit)
			return end
		}
		switch {
		case p.classify(data) == startNo:
			p.unknown()
		case len(data) >= MaxHeaderBytes:
			p.desync(false, emit)
		default:
			p.buffer(data)
		}
		return len(data)
	}
	take := min(len(data), MaxHeaderBytes-old)
	if !p.buffer(data[:take]) {
		return len(data) // given up for the budget: the rest of the message with it
	}
	// The terminator may begin with the LF before the new bytes.
	if end := headerEnd(p.hdr, max(old-2, 0), len(p.hdr)); end > 0 {
		p.headerDone(p.hdr[:end], emit)
		p.letGo()
		return end - old
	}
	switch {
	case p.classify(p.hdr) == startNo:
		p.unknown()
	case len(p.hdr) >= MaxHeaderBytes:
		p.desync(false, emit)
	}
	return len(data)
}

// buffer appends b to hdr, growing it geometrically but never past
// MaxHeaderBytes; callers keep len(hdr)+len(b) within that. It returns
// false when the budget had no room and the message was given up.
func (p *Parser) buffer(b []byte) bool {
	if need := len(p.hdr) + len(b); need > cap(p.hdr) {
		n := min(max(2*cap(p.hdr), need, 1024), MaxHeaderBytes)
		if p.budget != nil && !p.budget.reserve(p, n-cap(p.hdr)) {
			return false
		}
		grown := make([]byte, len(p.hdr), n)
		copy(grown, p.hdr)
		p.hdr = grown
	}
	p.hdr = append(p.hdr, b...)
	return true
}

// letGo drops hdr: buffered blocks are rare, and a connection idle after
// one should not keep up to MaxHeaderBytes for good.
func (p *Parser) letGo() {
	p.hdr = nil
	if p.budget != nil {
		p.budget.release(p)
	}
}

// overBudget gives up the partial header block for the budget: the rest
// of the message is passed over, as after a desync.
func (p *Parser) overBudget() {
	p.stats.OverBudget++
	p.drop()
	p.st = stResync
	p.lost = true
}

// cutHeader frames the message in progress from the part of its header
// block that was captured, when that holds the whole start line: the
// fields of its complete lines count, the body's length is unknown. The
// caller then gives up the framing (desync), which emits the message
// incomplete. A response takes its place in the order of answers, as a
// whole one would.
func (p *Parser) cutHeader() {
	block := p.hdr
	nl := bytes.IndexByte(block, '\n')
	if nl < 0 || p.classify(block) == startNo || !parseStartLine(bytes.TrimSuffix(block[:nl], []byte{'\r'}), &p.msg) {
		return
	}
	var f fields
	parseFields(block[nl+1:bytes.LastIndexByte(block, '\n')+1], &p.msg, &f)
	p.msg.HeaderBytes = uint64(len(block))
	m := &p.msg
	m.KeepAlive = keepAlive(m.Proto, &f)
	if !p.request {
		if m.Status < 200 && m.Status != 101 {
			return // an interim response answers nothing
		}
		if p.lost {
			p.expect.keepNewest()
			p.lost = false
		}
		_, m.Answers = p.expect.pop()
		p.assumed = m.Answers == 0
	}
	p.stats.Cut++
	p.framed = true
}

// headerDone parses a complete header block and sets up the body.
func (p *Parser) headerDone(block []byte, emit func(*Message)) {
	if p.classify(block) == startNo {
		p.unknown()
		return
	}
	nl := bytes.IndexByte(block, '\n')
	if !parseStartLine(bytes.TrimSuffix(block[:nl], []byte{'\r'}), &p.msg) {
		p.desync(false, emit)
		return
	}
	var f fields
	parseFields(block[nl+1:], &p.msg, &f)
	p.msg.HeaderBytes = uint64(len(block))
	p.probing = false
	if p.request {
		p.frameRequest(&f, emit)
	} else {
		p.frameResponse(&f, emit)
	}
}

// frameRequest decides a request's body length (RFC 9112, 6.3).
func (p *Parser) frameRequest(f *fields, emit func(*Message)) {
	m := &p.msg
	m.KeepAlive = keepAlive(m.Proto, f)
	p.framed = true
	switch {
	case f.te && f.chunked:
		// Chunked wins over Content-Length.
		m.Chunked = true
		p.nextChunk()
	case f.te, f.badLength:
		// A server must reject these: the body cannot be delimited.
		p.desync(false, emit)
	case f.contentLength > 0:
		m.ContentLength = f.contentLength
		p.remaining = uint64(f.contentLength)
		p.st = stBody
	default:
		m.ContentLength = f.contentLength
		p.complete(emit)
	}
}

// frameResponse decides a response's body length (RFC 9112, 6.3), which
// depends on the request it answers.
func (p *Parser) frameResponse(f *fields, emit func(*Message)) {
	m := &p.msg
	if m.Status < 200 && m.Status != 101 {
		// An interim response: the final one, still to come, answers the
		// request.
		p.stats.Interim++
		p.drop()
		p.st = stStart
		return
	}
	if p.lost {
		// Bytes were lost since the last response, and with them maybe
		// responses to pending requests. Pairing this response with the
		// most recent request is right for all but pipelined traffic.
		p.expect.keepNewest()
		p.lost = false
	}
	to, num := p.expect.pop()
	m.Answers = num
	p.assumed = num == 0
	m.KeepAlive = keepAlive(m.Proto, f)
	if !f.badLength && !(f.te && f.chunked) {
		m.ContentLength = f.contentLength
	}
	p.framed = true
	switch {
	case m.Status == 101 || to == toConnect && m.Status/100 == 2:
		m.Tunnel = true
		m.KeepAlive = false
		p.complete(emit)
	case to == toHead || m.Status == 204 || m.Status == 304:
		p.complete(emit)
	case f.te && f.chunked:
		m.Chunked = true
		p.nextChunk()
	case f.te:
		m.KeepAlive = false
		p.st = stUntilClose
	case f.badLength:
		p.desync(false, emit)
	case f.contentLength > 0:
		p.remaining = uint64(f.contentLength)
		p.st = stBody
	case f.contentLength == 0:
		p.complete(emit)
	default:
		m.KeepAlive = false
		p.st = stUntilClose
	}
}

// keepAlive applies the persistence rules of RFC 9112, 9.3.
func keepAlive(proto string, f *fields) bool {
	if proto == "HTTP/1.0" {
		return f.keepAlive && !f.close
	}
	return !f.close
}

// body consumes n body bytes, captured or not.
func (p *Parser) body(n uint64, emit func(*Message)) {
	p.touch()
	p.msg.BodyBytes += n
	switch p.st {
	case stBody:
		if p.remaining -= n; p.remaining == 0 {
			p.complete(emit)
		}
	case stChunkData:
		if p.remaining -= n; p.remaining == 0 {
			p.st = stChunkEnd
			p.sawCR = false
		}
	}
}

// complete emits the message in progress as complete.
func (p *Parser) complete(emit func(*Message)) {
	p.msg.Complete = true
	if p.msg.Tunnel {
		p.st = stTunnel
	} else {
		p.st = stStart
	}
	p.deliver(emit)
}

// emitIncomplete emits the message in progress, if it got as far as its
// headers, as incomplete.
func (p *Parser) emitIncomplete(emit func(*Message)) {
	if p.inMsg && p.framed {
		p.msg.Complete = false
		p.deliver(emit)
	}
	p.drop()
}

// deliver finalises msg and passes it to emit. The next state must already
// be set: emit may call into the parser of the other direction (never into
// this one, whose message it is borrowing).
func (p *Parser) deliver(emit func(*Message)) {
	m := &p.msg
	if p.dir == Ingress {
		m.Start = m.FirstExit
	} else {
		m.Start = m.FirstEnter
	}
	m.End = max(m.LastExit, p.closeTs, m.Start)
	p.stats.Messages++
	if !m.Complete {
		p.stats.Incomplete++
	}
	p.inMsg = false
	p.framed = false
	p.assumed = false
	emit(m)
}

// drop forgets the message in progress, if any.
func (p *Parser) drop() {
	p.inMsg = false
	p.framed = false
	p.assumed = false
	p.probing = false
	p.letGo()
}

// desync gives up on the stream's framing; parsing resumes at a later chunk
// that begins a message. A message past its headers is emitted incomplete.
func (p *Parser) desync(gap bool, emit func(*Message)) {
	p.stats.Desyncs++
	if gap {
		p.stats.Gaps++
	}
	p.st = stResync
	p.lost = true
	p.emitIncomplete(emit)
}

// unknown handles a message start that is not HTTP/1.
func (p *Parser) unknown() {
	if !p.probing {
		p.stats.Unknown++
	}
	p.drop()
	p.st = stResync
	p.lost = true
}
