package http1

import (
	"testing"
)

// FuzzParser feeds arbitrary bytes cut into chunks as ctl directs, with
// captures cut short, lost records and, for responses, request methods
// interleaved; then it checks what every message must satisfy.
//
// Each ctl byte makes one chunk: bits 0-4 are its size - 1, bit 5 multiplies
// the size by 97 (bodies past the capture), bit 6 captures only half of it,
// bit 7 drops it as a lost record. For a response parser, bit 4 also sends a
// request first, its method chosen by bits 2-3.
func FuzzParser(f *testing.F) {
	seeds := []struct {
		stream  string
		request bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", true},
		{"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;e\r\nhello\r\n0\r\nT: v\r\n\r\n", true},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody", false},
		{"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x00", false},
		{"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", true},
	}
	for _, s := range seeds {
		f.Add([]byte(s.stream), []byte{3, 0x45, 0x90, 7, 0x21, 0x1f}, s.request)
		f.Add([]byte(s.stream), []byte{}, s.request)
	}
	f.Fuzz(func(t *testing.T, stream, ctl []byte, request bool) {
		p := NewRequestParser()
		if !request {
			p = NewResponseParser()
		}
		var chunks []Chunk
		var msgs []Message
		emit := func(m *Message) { msgs = append(msgs, *m) }
		methods := [...]string{"GET", "HEAD", "CONNECT", "POST"}
		pos := uint64(0)
		for i := 0; len(stream) > 0 && len(chunks) < 512; i++ {
			size := len(stream)
			var b byte
			if i < len(ctl) {
				b = ctl[i]
				size = int(b&0x1f) + 1
				if b&0x20 != 0 {
					size *= 97
				}
				size = min(size, len(stream))
			}
			data := stream[:size]
			stream = stream[size:]
			if b&0x80 != 0 { // lost: the parser never sees it
				pos += uint64(size)
				continue
			}
			if b&0x40 != 0 {
				data = data[:size/2]
			}
			if !request && b&0x10 != 0 {
				p.ExpectResponseTo(methods[b>>2&3])
			}
			enter, exit := tsOf(len(chunks))
			c := Chunk{Pos: pos, Size: uint32(size), Data: data, Enter: enter, Exit: exit}
			chunks = append(chunks, c)
			p.Feed(c, emit)
			pos += uint64(size)
			if cap(p.hdr) > MaxHeaderBytes {
				t.Fatalf("header buffer grew to %d bytes", cap(p.hdr))
			}
		}
		closeTs, _ := tsOf(len(chunks))
		p.Close(closeTs, emit)

		stats := p.Stats()
		if stats.Messages != uint64(len(msgs)) {
			t.Errorf("stats count %d messages, %d emitted", stats.Messages, len(msgs))
		}
		var incomplete, lastChunk, lastAnswer uint64
		for i, m := range msgs {
			if m.Request != request {
				t.Errorf("message %d: Request is %v", i, m.Request)
			}
			if m.Start > m.End || m.FirstEnter > m.FirstExit || m.FirstEnter > m.LastEnter || m.LastExit > m.End {
				t.Errorf("message %d: timestamps %+v", i, m)
			}
			// Timestamps say which chunks carried the message.
			first, last := m.FirstEnter/1000-1, m.LastEnter/1000-1
			if first < lastChunk || last >= uint64(len(chunks)) {
				t.Fatalf("message %d: chunks %d..%d out of order (previous ended in %d of %d)",
					i, first, last, lastChunk, len(chunks))
			}
			lastChunk = last
			span := chunks[last].Pos + uint64(chunks[last].Size) - chunks[first].Pos
			if m.HeaderBytes+m.BodyBytes > span {
				t.Errorf("message %d: %d header and %d body bytes in a %d-byte span",
					i, m.HeaderBytes, m.BodyBytes, span)
			}
			if m.Answers != 0 {
				if m.Answers <= lastAnswer {
					t.Errorf("message %d answers request %d after %d", i, m.Answers, lastAnswer)
				}
				lastAnswer = m.Answers
			}
			if !m.Complete {
				incomplete++
			}
		}
		if stats.Incomplete != incomplete || stats.Gaps > stats.Desyncs {
			t.Errorf("stats %+v, %d incomplete emitted", stats, incomplete)
		}
	})
}
