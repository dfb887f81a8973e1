package http1

import (
	"bytes"
	"strings"
	"testing"
)

const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func TestRequestsAllSplits(t *testing.T) {
	h1 := "GET /a?x=1 HTTP/1.1\r\nHost: example.com\r\ntraceparent: " + tp +
		"\r\nAuthorization: Bearer secret\r\nCookie: s=1\r\n\r\n"
	h2 := "POST /b HTTP/1.1\r\nContent-Length: 5\r\ncontent-type: text/plain\r\n\r\n"
	h3 := "PUT /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n"
	b3 := "5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: y\r\n\r\n"
	h4 := "DELETE /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	h5 := "OPTIONS * HTTP/1.1\nHost: lf\nConnection: close\n\n"
	h6 := "PROPFIND /dav HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
	stream := h1 + h2 + "hello" + h3 + b3 + "\r\n" + h4 + h5 + h6

	m1 := request("GET", "/a?x=1", h1)
	m1.Host, m1.Traceparent = "example.com", tp
	m2 := request("POST", "/b", h2)
	m2.ContentLength, m2.ContentType, m2.BodyBytes = 5, "text/plain", 5
	m3 := request("PUT", "/c", h3)
	m3.Chunked, m3.BodyBytes = true, 8 // chunked wins over Content-Length
	m4 := request("DELETE", "/d", h4)
	m4.Proto = "HTTP/1.0"
	m5 := request("OPTIONS", "*", h5)
	m5.Host, m5.KeepAlive = "lf", false
	m6 := request("PROPFIND", "/dav", h6)
	m6.ContentLength = 0

	checkAllSplits(t, true, nil, stream, []Message{m1, m2, m3, m4, m5, m6}, Stats{Messages: 6})
}

func TestResponsesAllSplits(t *testing.T) {
	h1 := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
	h2 := "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/html\r\n\r\n"
	interim := "HTTP/1.1 100 Continue\r\n\r\n"
	h3 := "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
	b3 := "a\r\n0123456789\r\n0\r\n\r\n"
	h4 := "HTTP/1.1 204 No Content\r\n\r\n"
	h5 := "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n"
	b5 := "<html>close delimited</html>"
	stream := h1 + "abc" + h2 + interim + h3 + b3 + h4 + h5 + b5

	r1 := response(200, h1, 1)
	r1.ContentLength, r1.BodyBytes = 3, 3
	r2 := response(200, h2, 2) // to HEAD: no body
	r2.ContentLength, r2.ContentType = 100, "text/html"
	r3 := response(201, h3, 3)
	r3.Chunked, r3.BodyBytes = true, 10
	r4 := response(204, h4, 4)
	r5 := response(200, h5, 5)
	r5.Proto, r5.KeepAlive, r5.ContentType, r5.BodyBytes = "HTTP/1.0", false, "text/html", uint64(len(b5))

	checkAllSplits(t, false, []string{"GET", "HEAD", "POST", "GET", "GET"}, stream,
		[]Message{r1, r2, r3, r4, r5}, Stats{Messages: 5, Interim: 1})
}

func TestPipelined(t *testing.T) {
	reqs := "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nHEAD /3 HTTP/1.1\r\n\r\n"
	got, stats := parse(true, nil, chunksAt([]byte(reqs)), 0)
	if len(got) != 3 || got[0].Target != "/1" || got[1].Target != "/2" || got[2].Method != "HEAD" {
		t.Fatalf("requests %+v", got)
	}
	if stats != (Stats{Messages: 3}) {
		t.Errorf("stats %+v", stats)
	}
	resps := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\n" +
		"Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"
	got, stats = parse(false, []string{"GET", "GET", "HEAD"}, chunksAt([]byte(resps)), 0)
	if len(got) != 3 || got[0].Status != 200 || got[1].Status != 404 || got[2].BodyBytes != 0 {
		t.Fatalf("responses %+v", got)
	}
	for i, m := range got {
		if m.Answers != uint64(i+1) || !m.Complete {
			t.Errorf("response %d: answers %d complete %v", i, m.Answers, m.Complete)
		}
	}
	if stats != (Stats{Messages: 3}) {
		t.Errorf("stats %+v", stats)
	}
}

// A body larger than the capture is skipped by count: request lines inside
// it, captured or not, are body bytes.
func TestBodyPastCapture(t *testing.T) {
	head := "POST /upload HTTP/1.1\r\nContent-Length: 10000\r\n\r\n"
	body := bytes.Repeat([]byte("GET / HTTP/1.1\r\n\r\n"), 600)[:10000]
	stream := append([]byte(head), body...)
	stream = append(stream, "GET /next HTTP/1.1\r\n\r\n"...)
	// The second chunk begins, and is captured, at a request line.
	split, end := len(head)+18*333, len(head)+len(body)
	chunks := []Chunk{
		{Pos: 0, Size: uint32(split), Data: stream[:100], Enter: 1, Exit: 2},
		{Pos: uint64(split), Size: uint32(end - split), Data: stream[split : split+40], Enter: 3, Exit: 4},
		{Pos: uint64(end), Size: uint32(len(stream) - end), Data: stream[end:], Enter: 5, Exit: 6},
	}
	got, stats := parse(true, nil, chunks, 0)
	if len(got) != 2 || got[0].BodyBytes != 10000 || !got[0].Complete || got[1].Target != "/next" {
		t.Fatalf("messages %+v", got)
	}
	if got[0].LastExit != 4 || got[1].FirstExit != 6 {
		t.Errorf("timestamps: upload ends at %d, next starts at %d", got[0].LastExit, got[1].FirstExit)
	}
	if stats != (Stats{Messages: 2}) {
		t.Errorf("stats %+v", stats)
	}
}

// sendfile() chunks carry no data, only a size.
func TestSendfileBody(t *testing.T) {
	h := "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n"
	next := "HTTP/1.1 304 Not Modified\r\n\r\n"
	pos := uint64(len(h))
	chunks := []Chunk{
		{Pos: 0, Size: uint32(len(h)), Data: []byte(h), Enter: 1, Exit: 2},
		{Pos: pos, Size: 65536, Enter: 3, Exit: 4},
		{Pos: pos + 65536, Size: 70000 - 65536, Enter: 5, Exit: 6},
		{Pos: pos + 70000, Size: uint32(len(next)), Data: []byte(next), Enter: 7, Exit: 8},
	}
	got, stats := parse(false, []string{"GET", "GET"}, chunks, 0)
	if len(got) != 2 || got[0].BodyBytes != 70000 || got[0].End != 6 || got[1].Status != 304 {
		t.Fatalf("messages %+v", got)
	}
	if stats != (Stats{Messages: 2}) {
		t.Errorf("stats %+v", stats)
	}
}

// A header block cut by the capture (larger than one syscall's capture: a
// big cookie or token) is still a message: reported incomplete from what
// was seen, so that it pairs with its answer. The framing is lost with the
// rest of the block: the parser ignores chunks that do not begin a message
// and resyncs on one that does.
func TestHeaderPastCaptureResyncs(t *testing.T) {
	h := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
	next := "GET /b HTTP/1.1\r\n\r\n"
	chunks := []Chunk{
		{Pos: 0, Size: uint32(len(h)), Data: []byte(h[:20]), Enter: 1, Exit: 2},
		{Pos: uint64(len(h)), Size: 3, Data: []byte("abc"), Enter: 3, Exit: 4},
		{Pos: uint64(len(h)) + 3, Size: uint32(len(next)), Data: []byte(next), Enter: 5, Exit: 6},
	}
	got, stats := parse(true, nil, chunks, 0)
	if len(got) != 2 || got[0].Method != "POST" || got[0].Target != "/a" || got[0].Complete ||
		got[1].Target != "/b" || got[1].FirstExit != 6 || !got[1].Complete {
		t.Fatalf("messages %+v", got)
	}
	if stats != (Stats{Messages: 2, Incomplete: 1, Desyncs: 1, Gaps: 1, Cut: 1}) {
		t.Errorf("stats %+v", stats)
	}
}

// A cut header block without its whole start line is not a message.
func TestHeaderCutInItsStartLine(t *testing.T) {
	h := "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\n\r\n"
	got, stats := parse(true, nil, []Chunk{{Pos: 0, Size: uint32(len(h)), Data: []byte(h[:50]), Enter: 1, Exit: 2}}, 0)
	if len(got) != 0 {
		t.Fatalf("messages %+v", got)
	}
	if stats != (Stats{Desyncs: 1, Gaps: 1}) {
		t.Errorf("stats %+v", stats)
	}
}

func TestChunkedPastCapture(t *testing.T) {
	h := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	t.Run("chunk data uncaptured", func(t *testing.T) {
		// The data and its CRLF are skipped by count.
		first := h + "100\r\n" + strings.Repeat("x", 10)
		size := len(h) + 5 + 0x100 + 2
		end := "0\r\n\r\n"
		chunks := []Chunk{
			{Pos: 0, Size: uint32(size), Data: []byte(first), Enter: 1, Exit: 2},
			{Pos: uint64(size), Size: uint32(len(end)), Data: []byte(end), Enter: 3, Exit: 4},
		}
		got, stats := parse(false, []string{"GET"}, chunks, 0)
		if len(got) != 1 || got[0].BodyBytes != 0x100 || !got[0].Complete || got[0].End != 4 {
			t.Fatalf("messages %+v", got)
		}
		if stats != (Stats{Messages: 1}) {
			t.Errorf("stats %+v", stats)
		}
	})
	t.Run("chunk-size line uncaptured", func(t *testing.T) {
		first := h + "5\r\nhello\r\n"
		next := "HTTP/1.1 204 No Content\r\n\r\n"
		chunks := []Chunk{
			{Pos: 0, Size: uint32(len(first) + 100), Data: []byte(first), Enter: 1, Exit: 2},
			{Pos: uint64(len(first) + 100), Size: 7, Data: []byte("0\r\n\r\n\r\n"), Enter: 3, Exit: 4},
			{Pos: uint64(len(first) + 107), Size: uint32(len(next)), Data: []byte(next), Enter: 5, Exit: 6},
		}
		got, stats := parse(false, []string{"GET", "GET"}, chunks, 0)
		if len(got) != 2 || got[0].Complete || got[0].BodyBytes != 5 || got[0].Answers != 1 {
			t.Fatalf("messages %+v", got)
		}
		if got[1].Status != 204 || got[1].Answers != 2 || !got[1].Complete {
			t.Errorf("after resync: %+v", got[1])
		}
		if stats != (Stats{Messages: 2, Incomplete: 1, Desyncs: 1, Gaps: 1}) {
			t.Errorf("stats %+v", stats)
		}
	})
}

func TestLostRecords(t *testing.T) {
	h := "POST /a HTTP/1.1\r\nContent-Length: 1000\r\n\r\n"
	next := "GET /b HTTP/1.1\r\n\r\n"
	n := uint64(len(h))
	// Records for bytes [n+10, n+900) were lost: still inside the body.
	chunks := []Chunk{
		{Pos: 0, Size: uint32(n + 10), Data: []byte(h + "0123456789"), Enter: 1, Exit: 2},
		{Pos: n + 900, Size: 100, Data: make([]byte, 100), Enter: 3, Exit: 4},
		{Pos: n + 1000, Size: uint32(len(next)), Data: []byte(next), Enter: 5, Exit: 6},
	}
	got, stats := parse(true, nil, chunks, 0)
	if len(got) != 2 || got[0].BodyBytes != 1000 || !got[0].Complete || got[1].Target != "/b" {
		t.Fatalf("messages %+v", got)
	}
	if stats != (Stats{Messages: 2}) {
		t.Errorf("stats %+v", stats)
	}

	// Lost records at a message boundary hide where the next one starts.
	chunks[2].Pos += 50
	got, stats = parse(true, nil, chunks, 0)
	if len(got) != 2 || got[1].Target != "/b" {
		t.Fatalf("messages %+v", got)
	}
	if stats != (Stats{Messages: 2, Desyncs: 1, Gaps: 1}) {
		t.Errorf("stats %+v", stats)
	}
}

func TestPositionGoesBackwards(t *testing.T) {
	m := []byte("POST /a HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
	chunks := []Chunk{
		{Pos: 0, Size: uint32(len(m)), Data: m},
		{Pos: 0, Size: uint32(len(m)), Data: m},
	}
	got, stats := parse(true, nil, chunks, 0)
	if len(got) != 2 || got[0].Complete || got[1].Complete {
		t.Fatalf("messages %+v", got)
	}
	if stats != (Stats{Messages: 2, Incomplete: 2, Desyncs: 1}) {
		t.Errorf("stats %+v", stats)
	}
}

func TestNotHTTP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request bool
		data    string
	}{
		{"binary", true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
		{"http2 preface", true, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"method without path", true, "FOO bar HTTP/1.1\r\n\r\n"},
		{"long token", true, "ABCDEFGHIJKLMNOPQRSTU /x HTTP/1.1\r\n\r\n"},
		{"redis", true, "*1\r\n$4\r\nPING\r\n"},
		{"response garbage", false, "SSH-2.0-OpenSSH_9.6\r\n"},
		{"http2 response", false, "\x00\x00\x12\x04\x00\x00\x00\x00\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var chunks []Chunk
			pos := uint64(0)
			for range 3 { // the same garbage again: Unknown counts once
				chunks = append(chunks, Chunk{Pos: pos, Size: uint32(len(tc.data)), Data: []byte(tc.data)})
				pos += uint64(len(tc.data))
			}
			valid := "GET /ok HTTP/1.1\r\n\r\n"
			if !tc.request {
				valid = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
			}
			chunks = append(chunks, Chunk{Pos: pos, Size: uint32(len(valid)), Data: []byte(valid)})
			got, stats := parse(tc.request, nil, chunks, 0)
			if len(got) != 1 || !got[0].Complete {
				t.Fatalf("messages %+v", got)
			}
			if stats != (Stats{Messages: 1, Unknown: 1}) {
				t.Errorf("stats %+v", stats)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	for _, tc := range []struct{ line, method, target string }{
		{"PATCH /x HTTP/1.1", "PATCH", "/x"},
		{"CONNECT example.com:443 HTTP/1.1", "CONNECT", "example.com:443"},
		{"PROPFIND /dav/ HTTP/1.1", "PROPFIND", "/dav/"},
		{"VERSION-CONTROL /r HTTP/1.1", "VERSION-CONTROL", "/r"},
		{"BREW http://pot/ HTTP/1.1", "BREW", "http://pot/"},
		// Methods are case-sensitive: "get" is not GET, but it is a
		// method, and servers answer it (Go and nginx with 405/400,
		// python with 501).
		{"get / HTTP/1.1", "get", "/"},
		{"GET http://example.com/p?q HTTP/1.1", "GET", "http://example.com/p?q"},
		{"GET /a b HTTP/1.1", "GET", "/a b"},
	} {
		got, stats := parse(true, nil, chunksAt([]byte(tc.line+"\r\n\r\n")), 0)
		if len(got) != 1 || got[0].Method != tc.method || got[0].Target != tc.target {
			t.Errorf("%q: %+v %+v", tc.line, got, stats)
		}
	}
	for _, line := range []string{"GET /", "GET / HTTP/2.0", "GET / http/1.1", "GET  HTTP/1.1"} {
		got, stats := parse(true, nil, chunksAt([]byte(line+"\r\n\r\n")), 0)
		if len(got) != 0 || stats.Desyncs != 1 {
			t.Errorf("%q: %+v %+v", line, got, stats)
		}
	}
}

func TestKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		proto, connection string
		want              bool
	}{
		{"HTTP/1.1", "", true},
		{"HTTP/1.1", "Connection: close\r\n", false},
		{"HTTP/1.1", "Connection: Keep-Alive, Upgrade\r\n", true},
		{"HTTP/1.0", "", false},
		{"HTTP/1.0", "Connection: keep-alive\r\n", true},
		{"HTTP/1.0", "connection: CLOSE\r\n", false},
	} {
		got, _ := parse(true, nil, chunksAt([]byte("GET / "+tc.proto+"\r\n"+tc.connection+"\r\n")), 0)
		if len(got) != 1 || got[0].KeepAlive != tc.want {
			t.Errorf("%s %q: %+v", tc.proto, tc.connection, got)
		}
	}
}

func TestResponseFraming(t *testing.T) {
	const after = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
	for _, tc := range []struct {
		name    string
		method  string
		stream  string
		body    uint64
		tunnel  bool
		msgs    int // including the response after, unless tunnelled
		closing bool
	}{
		{"HEAD ignores Content-Length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + after, 0, false, 2, false},
		{"HEAD ignores chunked", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + after, 0, false, 2, false},
		{"204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n" + after, 0, false, 2, false},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n" + after, 0, false, 2, false},
		{"interim skipped", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + after, 1, false, 1, false},
		{"101", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello" + after, 0, true, 1, true},
		{"CONNECT 200", "CONNECT", "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01" + after, 0, true, 1, true},
		{"CONNECT 407", "CONNECT", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno" + after, 2, false, 2, false},
		{"chunked wins over length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + after, 2, false, 2, false},
		{"other coding is close-delimited", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc" + after, uint64(3 + len(after)), false, 1, true},
		{"no length is close-delimited", "GET", "HTTP/1.1 200 OK\r\n\r\nabc", 3, false, 1, true},
		{"identical lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\ncontent-length: 2\r\n\r\nok" + after, 2, false, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, stats := parse(false, []string{tc.method, "GET"}, chunksAt([]byte(tc.stream)), 99)
			if len(got) != tc.msgs {
				t.Fatalf("%d messages, want %d: %+v", len(got), tc.msgs, got)
			}
			m := got[0]
			if m.BodyBytes != tc.body || m.Tunnel != tc.tunnel || !m.Complete || m.KeepAlive == tc.closing {
				t.Errorf("message %+v", m)
			}
			if stats.Desyncs != 0 || stats.Unknown != 0 {
				t.Errorf("stats %+v", stats)
			}
		})
	}
}

func TestBadFraming(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request bool
		stream  string
	}{
		{"bad length", true, "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"},
		{"negative length", true, "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"},
		{"empty length", true, "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"},
		{"conflicting lengths", true, "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"},
		{"huge length", true, "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"},
		{"request coding not chunked", true, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"},
		{"bad chunk size", true, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
		{"chunk size overflow", true, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n"},
		{"no CRLF after chunk", false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n"},
		{"response bad length", false, "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, stats := parse(tc.request, nil, chunksAt([]byte(tc.stream)), 0)
			// The message is known up to its headers, so it is reported, incomplete.
			if len(got) != 1 || got[0].Complete {
				t.Fatalf("messages %+v", got)
			}
			if stats != (Stats{Messages: 1, Incomplete: 1, Desyncs: 1}) {
				t.Errorf("stats %+v", stats)
			}
		})
	}
}

func TestHeaderTooLarge(t *testing.T) {
	big := "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n"
	next := "GET /next HTTP/1.1\r\n\r\n"
	stream := []byte(big + next)
	for _, cuts := range [][]int{nil, {100}, {100, 9000}} {
		cuts = append(cuts, len(big))
		got, stats := parse(true, nil, chunksAt(stream, cuts...), 0)
		if len(got) != 1 || got[0].Target != "/next" {
			t.Fatalf("cuts %v: messages %+v", cuts, got)
		}
		if stats != (Stats{Messages: 1, Desyncs: 1}) {
			t.Errorf("cuts %v: stats %+v", cuts, stats)
		}
	}
	// Just under the limit is fine, whatever the cuts.
	fits := "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", MaxHeaderBytes-27) + "\r\n\r\n"
	if len(fits) != MaxHeaderBytes {
		t.Fatalf("fits is %d bytes", len(fits))
	}
	for _, cuts := range [][]int{nil, {1}, {len(fits) - 1}, {5000, 12000}} {
		got, stats := parse(true, nil, chunksAt([]byte(fits), cuts...), 0)
		if len(got) != 1 || stats != (Stats{Messages: 1}) {
			t.Errorf("cuts %v: %d messages, stats %+v", cuts, len(got), stats)
		}
	}
}

func TestTimestamps(t *testing.T) {
	stream := []byte("POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdGET /b HTTP/1.1\r\n\r\n")
	cut1 := bytes.Index(stream, []byte("cd"))      // inside the body
	cut2 := bytes.Index(stream, []byte("GET")) + 2 // inside the method
	chunks := chunksAt(stream, cut1, cut2)
	for _, dir := range []Direction{Ingress, Egress} {
		p := NewRequestParser()
		p.SetDirection(dir)
		var got []Message
		for _, c := range chunks {
			p.Feed(c, func(m *Message) { got = append(got, *m) })
		}
		if len(got) != 2 {
			t.Fatalf("messages %+v", got)
		}
		a, b := got[0], got[1]
		// a spans chunks 0 and 1; b starts in chunk 1 and ends in chunk 2.
		if a.FirstEnter != 1000 || a.FirstExit != 1010 || a.LastEnter != 2000 || a.LastExit != 2010 {
			t.Errorf("a timestamps %+v", a)
		}
		if b.FirstEnter != 2000 || b.FirstExit != 2010 || b.LastEnter != 3000 || b.LastExit != 3010 {
			t.Errorf("b timestamps %+v", b)
		}
		wantStart := uint64(1010)
		if dir == Egress {
			wantStart = 1000
		}
		if a.Start != wantStart || a.End != 2010 {
			t.Errorf("%v: a start %d end %d", dir, a.Start, a.End)
		}
	}

	// A close-delimited body ends when the stream does.
	resp := "HTTP/1.0 200 OK\r\n\r\nbody"
	got, _ := parse(false, []string{"GET"}, chunksAt([]byte(resp)), 5000)
	if len(got) != 1 || got[0].Start != 1000 || got[0].LastExit != 1010 || got[0].End != 5000 {
		t.Errorf("close-delimited %+v", got)
	}
}

// A server may answer before it has read the whole request (an early 413);
// the response is framed as if to GET and takes the request's number once
// it is known.
func TestResponseBeforeRequestComplete(t *testing.T) {
	p := NewResponseParser()
	var got []Message
	emit := func(m *Message) { got = append(got, *m) }
	r := "HTTP/1.1 413 Content Too Large\r\nContent-Length: 10\r\n\r\n"
	p.Feed(Chunk{Size: uint32(len(r)), Data: []byte(r)}, emit)
	p.ExpectResponseTo("POST")
	p.ExpectResponseTo("HEAD")
	r2 := "0123456789HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
	p.Feed(Chunk{Pos: uint64(len(r)), Size: uint32(len(r2)), Data: []byte(r2)}, emit)
	if len(got) != 3 || got[0].Answers != 1 || got[1].Answers != 2 || got[1].BodyBytes != 0 || got[2].Answers != 0 {
		t.Fatalf("messages %+v", got)
	}
}

// After lost bytes the next response answers the most recent request.
func TestResyncPairsNewest(t *testing.T) {
	r := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	chunks := []Chunk{
		{Pos: 0, Size: uint32(len(r)), Data: []byte(r[:10])},
		{Pos: uint64(len(r)), Size: uint32(len(r)), Data: []byte(r)},
	}
	got, stats := parse(false, []string{"GET", "HEAD", "GET"}, chunks, 0)
	if len(got) != 1 || got[0].Answers != 3 || got[0].BodyBytes != 2 {
		t.Fatalf("messages %+v", got)
	}
	if stats != (Stats{Messages: 1, Desyncs: 1, Gaps: 1}) {
		t.Errorf("stats %+v", stats)
	}
}

func TestExpectQueueBound(t *testing.T) {
	var methods []string
	for range MaxPipelined + 6 {
		methods = append(methods, "GET")
	}
	r := "HTTP/1.1 204 No Content\r\n\r\n"
	got, _ := parse(false, methods, chunksAt([]byte(r+r)), 0)
	if len(got) != 2 || got[0].Answers != 7 || got[1].Answers != 8 {
		t.Fatalf("messages %+v", got)
	}
}

func TestClose(t *testing.T) {
	// A body cut short by the end of the stream.
	got, stats := parse(true, nil, chunksAt([]byte("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")), 0)
	if len(got) != 1 || got[0].Complete || got[0].BodyBytes != 3 || stats.Incomplete != 1 {
		t.Errorf("cut body: %+v %+v", got, stats)
	}
	// A header block cut short is not a message.
	got, stats = parse(true, nil, chunksAt([]byte("GET / HTTP/1.1\r\nHost")), 0)
	if len(got) != 0 || stats != (Stats{}) {
		t.Errorf("cut header: %+v %+v", got, stats)
	}
	// After Close the parser starts a new stream from position 0.
	p := NewRequestParser()
	n := 0
	emit := func(*Message) { n++ }
	m := []byte("GET / HTTP/1.1\r\n\r\n")
	p.Feed(Chunk{Pos: 0, Size: uint32(len(m)), Data: m}, emit)
	p.Close(0, emit)
	p.Feed(Chunk{Pos: 0, Size: uint32(len(m)), Data: m}, emit)
	if n != 2 || p.Stats() != (Stats{Messages: 2}) {
		t.Errorf("reuse after close: %d messages, %+v", n, p.Stats())
	}
}

func TestTunnel(t *testing.T) {
	p := NewRequestParser()
	m := []byte("CONNECT db:5432 HTTP/1.1\r\n\r\n\x16\x03\x01 anything")
	n := 0
	p.Feed(Chunk{Size: 28, Data: m[:28]}, func(*Message) { n++ })
	p.StartTunnel()
	p.Feed(Chunk{Pos: 28, Size: uint32(len(m) - 28), Data: m[28:]}, func(*Message) { n++ })
	if n != 1 || p.Stats() != (Stats{Messages: 1}) {
		t.Errorf("%d messages, %+v", n, p.Stats())
	}
}

// The hot path allocates only the strings a message keeps.
func TestAllocations(t *testing.T) {
	m := []byte("GET /api/users/42?x=1 HTTP/1.1\r\nHost: svc\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n")
	p := NewRequestParser()
	pos := uint64(0)
	emit := func(*Message) {}
	allocs := testing.AllocsPerRun(1000, func() {
		p.Feed(Chunk{Pos: pos, Size: uint32(len(m)), Data: m}, emit)
		pos += uint64(len(m))
	})
	if allocs > 2 { // Target and Host
		t.Errorf("%.1f allocations per message", allocs)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	m := []byte("POST /api/users/42?x=1 HTTP/1.1\r\nHost: svc\r\nUser-Agent: curl/8\r\n" +
		"Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"name\":\"a\"}\n")
	p := NewRequestParser()
	pos := uint64(0)
	emit := func(*Message) {}
	b.SetBytes(int64(len(m)))
	b.ReportAllocs()
	for b.Loop() {
		p.Feed(Chunk{Pos: pos, Size: uint32(len(m)), Data: m}, emit)
		pos += uint64(len(m))
	}
}
