package http1

import "bytes"

// Limits that bound the parser's memory and the work one message can cause.
const (
	// MaxHeaderBytes bounds the start line and header fields of a message
	// (and the trailer fields of a chunked body). Larger ones desync the
	// parser. Go's net/http and nginx accept 1 MiB and 8 KiB by default;
	// 16 KiB covers real traffic while keeping a parser's buffer small.
	MaxHeaderBytes = 16 << 10
	// maxChunkLine bounds a chunk-size line with its extensions.
	maxChunkLine = 4 << 10
	// maxMethodLen bounds a method token that is not a standard method.
	maxMethodLen = 20
	// maxLength bounds Content-Length and chunk sizes so that sums of them
	// cannot overflow.
	maxLength = 1 << 62
)

// knownMethods are the methods of RFC 9110 and RFC 5789.
var knownMethods = [...]string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
}

// startMatch is the verdict on whether bytes begin an HTTP/1 message.
type startMatch uint8

const (
	startNo    startMatch = iota // not a message start
	startMaybe                   // a prefix of one: more bytes needed
	startYes
)

// classifyRequest decides whether b begins a request line: a standard
// method and a space, or an uppercase method-like token and " /" or " http"
// (origin or absolute form), which keeps the guess tight for non-standard
// methods.
func classifyRequest(b []byte) startMatch {
	verdict := startNo
	for _, m := range knownMethods {
		switch {
		case len(b) > len(m):
			if b[len(m)] == ' ' && string(b[:len(m)]) == m {
				return startYes
			}
		case string(b) == m[:len(b)]:
			verdict = startMaybe
		}
	}
	n := 0
	for n < len(b) && n <= maxMethodLen && isMethodByte(b[n], n == 0) {
		n++
	}
	switch {
	case n > maxMethodLen || n == 0:
		return verdict
	case n == len(b):
		return startMaybe
	case b[n] != ' ':
		return verdict
	}
	rest := b[n+1:]
	switch {
	case len(rest) == 0:
		return startMaybe
	case rest[0] == '/':
		return startYes
	case len(rest) >= 4:
		if equalFoldASCII(rest[:4], "http") {
			return startYes
		}
	case equalFoldASCII(rest, "http"[:len(rest)]):
		return startMaybe
	}
	return verdict
}

// knownMethodPrefix reports whether b is the beginning of a standard
// method.
func knownMethodPrefix(b []byte) bool {
	for _, m := range knownMethods {
		if len(b) <= len(m) && string(b) == m[:len(b)] {
			return true
		}
	}
	return false
}

// isMethodByte accepts a method as servers do: letters of either case
// (methods are case-sensitive, so "get" is a method of its own, which
// servers answer, often with 405 or 501), and '-' and '_' after the first.
func isMethodByte(c byte, first bool) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || !first && (c == '-' || c == '_')
}

// classifyResponse decides whether b begins a status line.
func classifyResponse(b []byte) startMatch {
	const prefix = "HTTP/1."
	if len(b) >= len(prefix) {
		if string(b[:len(prefix)]) == prefix {
			return startYes
		}
		return startNo
	}
	if string(b) == prefix[:len(b)] {
		return startMaybe
	}
	return startNo
}

// headerEnd returns the length of the header block at the start of b: up to
// and including the blank line that ends it, or -1 if that is not within
// b[:limit]. Lines end in CRLF or, leniently, a bare LF. The search starts at
// from, which must not be past a line feed that could begin the terminator.
func headerEnd(b []byte, from, limit int) int {
	if limit > len(b) {
		limit = len(b)
	}
	for i := from; i < limit; {
		j := bytes.IndexByte(b[i:limit], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < limit && b[i] == '\n':
			return i + 1
		case i+1 < limit && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
	return -1
}

// fields are the header fields that decide framing, before they are
// reconciled with the start line.
type fields struct {
	contentLength int64 // -1 when absent
	badLength     bool  // unparsable or conflicting Content-Length
	te            bool  // Transfer-Encoding present
	chunked       bool  // the final transfer coding is chunked
	close         bool  // Connection: close
	keepAlive     bool  // Connection: keep-alive
}

// parseStartLine fills the start line fields of m from the first line of a
// header block. It reports false when the line is malformed.
func parseStartLine(line []byte, m *Message) bool {
	if m.Request {
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 || sp > maxMethodLen {
			return false
		}
		method := line[:sp]
		for i, c := range method {
			if !isMethodByte(c, i == 0) {
				return false
			}
		}
		rest := line[sp+1:]
		// The version is after the last space: a target with raw spaces
		// (seen from broken clients) stays in one piece.
		sp = bytes.LastIndexByte(rest, ' ')
		if sp <= 0 {
			return false
		}
		proto, ok := parseProto(rest[sp+1:])
		if !ok {
			return false
		}
		m.Method = methodString(method)
		m.Target = string(rest[:sp])
		m.Proto = proto
		return true
	}
	// HTTP/1.x SP 3DIGIT [SP reason-phrase]
	if len(line) < 12 || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return false
	}
	proto, ok := parseProto(line[:8])
	if !ok {
		return false
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return false
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return false
	}
	m.Proto = proto
	m.Status = status
	return true
}

func parseProto(b []byte) (string, bool) {
	switch string(b) {
	case "HTTP/1.1":
		return "HTTP/1.1", true
	case "HTTP/1.0":
		return "HTTP/1.0", true
	}
	if len(b) == 8 && string(b[:7]) == "HTTP/1." && b[7] >= '0' && b[7] <= '9' {
		return string(b), true
	}
	return "", false
}

// methodString returns standard methods without allocating.
func methodString(b []byte) string {
	for _, m := range knownMethods {
		if string(b) == m {
			return m
		}
	}
	return string(b)
}

// parseFields reads the header fields after the start line (block holds
// them, the blank line included), storing the kept ones in m and the
// framing ones in f. Malformed lines are ignored, except where they affect
// framing: a wrong guess there would misparse every later message.
func parseFields(block []byte, m *Message, f *fields) {
	*f = fields{contentLength: -1}
	for len(block) > 0 {
		var line []byte
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			line, block = block, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			return
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // obsolete line folding: a continuation of a field we do not keep
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name := trimOWS(line[:colon])
		value := trimOWS(line[colon+1:])
		switch len(name) {
		case len("host"):
			if m.Host == "" && equalFoldASCII(name, "host") {
				m.Host = string(value)
			}
		case len("connection"):
			if equalFoldASCII(name, "connection") {
				forEachToken(value, func(t []byte) {
					switch {
					case equalFoldASCII(t, "close"):
						f.close = true
					case equalFoldASCII(t, "keep-alive"):
						f.keepAlive = true
					}
				})
			}
		case len("traceparent"):
			if m.Traceparent == "" && equalFoldASCII(name, "traceparent") {
				m.Traceparent = string(value)
			}
		case len("content-type"):
			if m.ContentType == "" && equalFoldASCII(name, "content-type") {
				m.ContentType = string(value)
			}
		case len("content-length"):
			if equalFoldASCII(name, "content-length") {
				parseContentLength(value, f)
			}
		case len("transfer-encoding"):
			if equalFoldASCII(name, "transfer-encoding") {
				// Only the final coding matters (RFC 9112, 6.3); a later
				// field line continues the list.
				f.te = true
				forEachToken(value, func(t []byte) {
					f.chunked = equalFoldASCII(t, "chunked")
				})
			}
		}
	}
}

// parseContentLength accepts a decimal length, or a list of identical ones
// (RFC 9110, 8.6); anything else, or a value different from an earlier
// Content-Length field, makes the length unusable.
func parseContentLength(value []byte, f *fields) {
	if len(value) == 0 {
		f.badLength = true
		return
	}
	forEachToken(value, func(t []byte) {
		var n int64
		if len(t) == 0 {
			f.badLength = true
			return
		}
		for _, c := range t {
			if c < '0' || c > '9' || n > maxLength/10 {
				f.badLength = true
				return
			}
			n = n*10 + int64(c-'0')
		}
		if f.contentLength >= 0 && f.contentLength != n {
			f.badLength = true
		}
		f.contentLength = n
	})
}

// forEachToken calls fn with each comma-separated element of a list value,
// whitespace trimmed, empty elements skipped.
func forEachToken(value []byte, fn func([]byte)) {
	for len(value) > 0 {
		var t []byte
		if i := bytes.IndexByte(value, ','); i >= 0 {
			t, value = value[:i], value[i+1:]
		} else {
			t, value = value, nil
		}
		if t = trimOWS(t); len(t) > 0 {
			fn(t)
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFoldASCII compares b with lower, a lowercase ASCII string, ignoring
// ASCII case.
func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
