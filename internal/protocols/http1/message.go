// Package http1 parses HTTP/1.x messages out of the byte stream of one
// direction of one TCP connection, as vigil's syscall tracepoints capture it.
//
// The input is a sequence of chunks, one per read-like or write-like
// syscall. A chunk knows where it sits in the stream (Pos), how many bytes
// the syscall moved (Size) and the prefix of those bytes the kernel captured
// (Data, at most Size bytes). Bytes past the capture are not available, so
// the parser frames messages by byte counts wherever it can: a body of known
// length is skipped by counting, and bytes inside it are never mistaken for
// the start of a new message. Where framing needs bytes that were not
// captured (a header, a chunk-size line, the start of the next message) the
// parser desynchronises, and looks for a new message only at the start of a
// later chunk.
//
// The parser is fed from one goroutine; it is not safe for concurrent use.
package http1

// Chunk is the part of one syscall's data that belongs to this stream.
type Chunk struct {
	// Pos is how many bytes this direction of the connection carried before
	// the syscall.
	Pos uint64
	// Size is the syscall's byte count.
	Size uint32
	// Data holds the first len(Data) <= Size bytes; the kernel caps what it
	// captures per syscall. Empty for sendfile(), which the kernel cannot
	// read.
	Data []byte
	// Enter and Exit are the syscall's entry and exit times (ns,
	// CLOCK_BOOTTIME).
	Enter, Exit uint64
	// TID is the thread that made the syscall.
	TID uint32
}

// Direction says whether the process read a stream (Ingress) or wrote it
// (Egress). It decides which timestamp marks the start of a message.
type Direction uint8

// Directions.
const (
	Ingress Direction = iota
	Egress
)

// Message is one HTTP/1.x request or response.
//
// Selected header fields are kept; credentials (Authorization, Cookie,
// Set-Cookie) never are, because they are never looked at.
type Message struct {
	Request bool
	// Method is the request method as sent: one of the nine standard
	// methods or another method-like token (metrics map those to _OTHER).
	Method string
	// Target is the raw request target, query string included: it may hold
	// secrets and must never be exported as is.
	Target string
	// Proto is the version from the start line, "HTTP/1.0" or "HTTP/1.1".
	Proto string
	// Status is the response status code.
	Status int

	// Host, Traceparent and ContentType are the first values of those
	// header fields (names are case-insensitive), empty when absent.
	Host, Traceparent, ContentType string
	// ContentLength is the Content-Length header, or -1 when absent or
	// overridden by a chunked Transfer-Encoding (RFC 9112, 6.3).
	ContentLength int64
	Chunked       bool
	// KeepAlive is whether the connection stays open after this message:
	// HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
	// "Connection: keep-alive"; never for a close-delimited response.
	KeepAlive bool
	// Tunnel is set on a response after which the connection no longer
	// carries HTTP/1 (101 Switching Protocols, 2xx to CONNECT).
	Tunnel bool

	// HeaderBytes counts the start line, header fields and the blank line.
	// BodyBytes counts payload bytes: chunked framing and trailers are
	// excluded, uncaptured bytes are included.
	HeaderBytes, BodyBytes uint64

	// Start is when the first byte crossed the syscall boundary: the exit
	// of the read that returned it (Ingress) or the entry of the write that
	// sent it (Egress). End is the exit of the syscall that carried the last
	// byte; for a close-delimited body it is the end of the stream when that
	// is later. End is never before Start.
	Start, End uint64
	// Timestamps of the first and last chunk that carried bytes of the
	// message.
	FirstEnter, FirstExit, LastEnter, LastExit uint64
	// TID is the thread that read or wrote the message's first bytes.
	TID uint32

	// Answers is, for a response, the number of the ExpectResponseTo call
	// whose request it answers (counted from 1 since the parser was created
	// or last closed), or 0 when no request was pending when it was framed.
	Answers uint64

	// Complete is false when the message was emitted because the stream
	// ended or lost framing before its end.
	Complete bool
}

// Stats counts what a parser saw. Counters only grow, across Close.
type Stats struct {
	// Messages counts messages emitted, complete or not.
	Messages uint64
	// Incomplete counts messages emitted with Complete false.
	Incomplete uint64
	// Interim counts 1xx interim responses (100 Continue, 103 Early Hints),
	// which are skipped: the final response answers the request.
	Interim uint64
	// Desyncs counts losses of framing: malformed or oversized headers,
	// bad chunk framing, framing bytes that were not captured, the stream
	// position going backwards.
	Desyncs uint64
	// Gaps counts desyncs caused by bytes missing from the capture
	// (uncaptured tail of a syscall, lost records).
	Gaps uint64
	// Unknown counts message starts that were not HTTP/1.
	Unknown uint64
	// Cut counts messages whose header block was only partly captured
	// (larger than one syscall's capture), reported from the part seen.
	Cut uint64
	// OverBudget counts header blocks given up while partial because the
	// parsers' shared Budget was spent (the rest of each message was
	// passed over).
	OverBudget uint64
}
