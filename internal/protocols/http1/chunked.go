package http1

// Chunked transfer coding (RFC 9112, 7.1). Chunk data is counted, captured
// or not, like a Content-Length body; chunk-size lines, the CRLF after each
// chunk's data and trailer fields are parsed byte by byte, so that they may
// be split anywhere between syscalls without buffering.

// nextChunk expects a chunk-size line.
func (p *Parser) nextChunk() {
	p.st = stChunkSize
	p.chunkLen = 0
	p.lineLen = 0
}

// chunkLine parses the framing bytes of a chunked body up to the next chunk
// data or the end of the message, and returns how many it used.
func (p *Parser) chunkLine(data []byte, emit func(*Message)) int {
	p.touch()
	for i, c := range data {
		switch p.st {
		case stChunkSize:
			p.lineLen++
			if d, ok := unhex(c); ok && p.chunkLen <= maxLength>>4 && p.lineLen <= maxChunkLine {
				p.chunkLen = p.chunkLen<<4 | d
				break
			}
			switch {
			case p.lineLen == 1 || p.lineLen > maxChunkLine || isHex(c):
				// No size, or a line or size too long.
				p.desync(false, emit)
			case c == '\n':
				p.chunkSizeDone()
			case c == ';' || c == ' ' || c == '\t' || c == '\r':
				p.st = stChunkExt
			default:
				p.desync(false, emit)
			}
		case stChunkExt:
			p.lineLen++
			switch {
			case c == '\n':
				p.chunkSizeDone()
			case p.lineLen > maxChunkLine:
				p.desync(false, emit)
			}
		case stChunkEnd:
			switch {
			case c == '\r' && !p.sawCR:
				p.sawCR = true
			case c == '\n':
				p.nextChunk()
			default:
				p.desync(false, emit)
			}
		case stTrailer:
			p.trailerLen++
			switch {
			case c == '\n' && p.lineLen == 0:
				p.complete(emit)
			case c == '\n':
				p.lineLen = 0
			case p.trailerLen > MaxHeaderBytes:
				p.desync(false, emit)
			case c != '\r':
				p.lineLen++
			}
		}
		switch p.st {
		case stChunkSize, stChunkExt, stChunkEnd, stTrailer:
		default:
			return i + 1
		}
	}
	return len(data)
}

// chunkSizeDone ends a chunk-size line: the last chunk (size 0) is followed
// by trailer fields.
func (p *Parser) chunkSizeDone() {
	p.lineLen = 0
	if p.chunkLen == 0 {
		p.st = stTrailer
		p.trailerLen = 0
		return
	}
	p.remaining = p.chunkLen
	p.st = stChunkData
}

func unhex(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return uint64(c - 'A' + 10), true
	}
	return 0, false
}

func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
}
