package requests

import (
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/protocols/http1"
)

// FuzzConn interleaves arbitrary request and response bytes as ctl directs
// and checks that assembly neither panics nor leaks a query, fragment or
// ;parameter into a path, or user info into a host,
// and that its counters add up.
//
// Each ctl byte makes one chunk: bit 7 picks the direction, bits 0-5 its
// size - 1, bit 6 captures only half of it.
func FuzzConn(f *testing.F) {
	f.Add("GET /a?x HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
		[]byte{0x10, 0x90, 0x20, 0xbf}, false)
	f.Add("GET /c;jsessionid=s?x HTTP/1.1\r\nHost: u:p@h\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n", []byte{0x3f, 0xbf}, false)
	f.Add("CONNECT h:1 HTTP/1.1\r\n\r\n\x16\x03", "HTTP/1.1 200 OK\r\n\r\n\x16\x03", []byte{0x3f, 0xbf, 0x3f}, true)
	f.Fuzz(func(t *testing.T, reqs, resps string, ctl []byte, client bool) {
		side := Server
		if client {
			side = Client
		}
		c := NewConn(ConnInfo{Side: side})
		var got []*Exchange
		emit := func(x *Exchange) { got = append(got, x.Clone()) }
		streams := [2]string{reqs, resps}
		var pos [2]uint64
		ts := uint64(0)
		feed := func(dir, size int, half bool) {
			data := streams[dir][:size]
			streams[dir] = streams[dir][size:]
			if half {
				data = data[:size/2]
			}
			ts += 2
			ch := http1.Chunk{Pos: pos[dir], Size: uint32(size), Data: []byte(data), Enter: ts, Exit: ts + 1}
			pos[dir] += uint64(size)
			// Requests travel in on a server, out on a client.
			if (dir == 0) == (side == Server) {
				c.Ingress(ch, emit)
			} else {
				c.Egress(ch, emit)
			}
		}
		for _, b := range ctl {
			dir := int(b >> 7)
			if size := min(int(b&0x3f)+1, len(streams[dir])); size > 0 {
				feed(dir, size, b&0x40 != 0)
			}
		}
		feed(0, len(streams[0]), false)
		feed(1, len(streams[1]), false)
		c.Close(1<<40, emit)
		st := c.Stats()
		if st.Exchanges != uint64(len(got)) {
			t.Errorf("%d exchanges counted, %d emitted", st.Exchanges, len(got))
		}
		if st.Exchanges+st.Unanswered+st.Overflow > st.Requests.Messages {
			t.Errorf("more requests accounted for than parsed: %+v", st)
		}
		for _, x := range got {
			if strings.ContainsAny(x.Path, "?#;") {
				t.Errorf("path %q keeps a query, fragment or parameter", x.Path)
			}
			if strings.Contains(x.Host, "@") {
				t.Errorf("host %q keeps user info", x.Host)
			}
		}
	})
}
