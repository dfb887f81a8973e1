package requests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/protocols/http1"
)

// script drives a Conn as the kernel would: each direction's positions
// advance by what the syscalls moved.
type script struct {
	t      *testing.T
	c      *Conn
	in     uint64 // ingress stream position
	out    uint64 // egress stream position
	got    []*Exchange
	record func(*Exchange)
}

func newScript(t *testing.T, side Side) *script {
	s := &script{t: t, c: NewConn(ConnInfo{
		ID: 7, PID: 100, TID: 101, Side: side,
		Local: event.Endpoint{Addr: "10.0.0.1", Port: 8080},
		Peer:  event.Endpoint{Addr: "10.0.0.2", Port: 40000},
	})}
	s.record = func(x *Exchange) { s.got = append(s.got, x.Clone()) }
	return s
}

// read feeds a read syscall of len(data) bytes at [enter, exit].
func (s *script) read(data string, enter, exit uint64) { s.readN(data, len(data), enter, exit) }

// readN feeds a read of size bytes of which data is the captured prefix.
func (s *script) readN(data string, size int, enter, exit uint64) {
	s.c.Ingress(http1.Chunk{Pos: s.in, Size: uint32(size), Data: []byte(data), Enter: enter, Exit: exit}, s.record)
	s.in += uint64(size)
}

func (s *script) write(data string, enter, exit uint64) { s.writeN(data, len(data), enter, exit) }

func (s *script) writeN(data string, size int, enter, exit uint64) {
	s.c.Egress(http1.Chunk{Pos: s.out, Size: uint32(size), Data: []byte(data), Enter: enter, Exit: exit}, s.record)
	s.out += uint64(size)
}

func (s *script) close(ts uint64) { s.c.Close(ts, s.record) }

// want describes an expected exchange.
type want struct {
	method, path, host string
	status             int
	start, end         uint64
	reqBody, respBody  uint64
}

func (s *script) check(wants ...want) {
	s.t.Helper()
	if len(s.got) != len(wants) {
		for _, x := range s.got {
			s.t.Logf("got %s", describe(x))
		}
		s.t.Fatalf("%d exchanges, want %d", len(s.got), len(wants))
	}
	for i, w := range wants {
		x := s.got[i]
		got := want{x.Method, x.Path, x.Host, x.Status, x.StartNs, x.EndNs, x.ReqBodyBytes, x.RespBodyBytes}
		if got != w {
			s.t.Errorf("exchange %d:\n got  %+v\n want %+v", i, got, w)
		}
		if x.Conn != s.c.Info() || x.Req == nil || x.Resp == nil || x.Req.Method != x.Method || x.Resp.Status != x.Status {
			s.t.Errorf("exchange %d: inconsistent %s", i, describe(x))
		}
	}
}

func (s *script) checkStats(want Stats) {
	s.t.Helper()
	got := s.c.Stats()
	got.Requests, got.Responses = http1.Stats{}, http1.Stats{}
	if got != want {
		s.t.Errorf("stats %+v, want %+v", got, want)
	}
}

func describe(x *Exchange) string {
	return fmt.Sprintf("%s %s %d [%d,%d] req=%+v resp=%+v", x.Method, x.Path, x.Status, x.StartNs, x.EndNs, *x.Req, *x.Resp)
}

func TestServerKeepAlive(t *testing.T) {
	s := newScript(t, Server)
	s.read("GET /a?token=secret HTTP/1.1\r\nHost: svc\r\n\r\n", 10, 11)
	s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 20, 21)
	s.write("ok", 22, 23)
	s.read("POST /b HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\n\r\n", 30, 31)
	s.read("abc", 32, 33)
	s.write("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 40, 41)
	s.close(50)
	s.check(
		want{"GET", "/a", "svc", 200, 11, 23, 0, 2},
		want{"POST", "/b", "svc", 201, 31, 41, 3, 0},
	)
	s.checkStats(Stats{Exchanges: 2})
}

func TestClientKeepAlive(t *testing.T) {
	s := newScript(t, Client)
	s.write("PUT /k HTTP/1.1\r\nHost: api\r\nContent-Length: 4\r\n\r\n", 10, 11)
	s.write("data", 12, 13)
	s.read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", 20, 21)
	s.read("0\r\n\r\n", 22, 23)
	s.write("GET /k HTTP/1.1\r\nHost: api\r\n\r\n", 30, 31)
	s.read("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 40, 41)
	s.check(
		want{"PUT", "/k", "api", 200, 10, 23, 4, 3},
		want{"GET", "/k", "api", 404, 30, 41, 0, 0},
	)
	s.checkStats(Stats{Exchanges: 2})
}

func TestPipelining(t *testing.T) {
	reqs := "GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"
	resps := "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" +
		"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" +
		"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno"
	t.Run("server", func(t *testing.T) {
		s := newScript(t, Server)
		s.read(reqs, 10, 11)
		s.write(resps, 20, 21)
		s.check(
			want{"GET", "/1", "", 200, 11, 21, 0, 1},
			want{"HEAD", "/2", "", 200, 11, 21, 0, 0},
			want{"POST", "/3", "", 500, 11, 21, 1, 2},
		)
		s.checkStats(Stats{Exchanges: 3})
	})
	t.Run("client", func(t *testing.T) {
		s := newScript(t, Client)
		s.write(reqs, 10, 11)
		s.read(resps, 20, 21)
		s.check(
			want{"GET", "/1", "", 200, 10, 21, 0, 1},
			want{"HEAD", "/2", "", 200, 10, 21, 0, 0},
			want{"POST", "/3", "", 500, 10, 21, 1, 2},
		)
	})
}

func TestContinue(t *testing.T) {
	s := newScript(t, Server)
	s.read("POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 10, 11)
	s.write("HTTP/1.1 100 Continue\r\n\r\n", 20, 21)
	s.read("hello", 30, 31)
	s.write("HTTP/1.1 204 No Content\r\n\r\n", 40, 41)
	s.check(want{"POST", "/up", "", 204, 11, 41, 5, 0})
	s.checkStats(Stats{Exchanges: 1})
	if st := s.c.Stats().Responses; st.Interim != 1 || st.Messages != 1 {
		t.Errorf("response stats %+v", st)
	}
}

func TestNoBodyResponses(t *testing.T) {
	s := newScript(t, Server)
	s.read("HEAD /x HTTP/1.1\r\n\r\n", 10, 11)
	s.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 20, 21)
	s.read("GET /y HTTP/1.1\r\n\r\n", 30, 31)
	s.write("HTTP/1.1 204 No Content\r\n\r\n", 40, 41)
	s.read("GET /z HTTP/1.1\r\nIf-None-Match: \"e\"\r\n\r\n", 50, 51)
	s.write("HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n", 60, 61)
	s.read("GET /w HTTP/1.1\r\n\r\n", 70, 71)
	s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 80, 81)
	s.check(
		want{"HEAD", "/x", "", 200, 11, 21, 0, 0},
		want{"GET", "/y", "", 204, 31, 41, 0, 0},
		want{"GET", "/z", "", 304, 51, 61, 0, 0},
		want{"GET", "/w", "", 200, 71, 81, 0, 2},
	)
	s.checkStats(Stats{Exchanges: 4})
}

func TestCloseDelimited(t *testing.T) {
	s := newScript(t, Client)
	s.write("GET /old HTTP/1.0\r\n\r\n", 10, 11)
	s.read("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\npart1", 20, 21)
	s.read("part2", 22, 23)
	s.check()
	s.close(30)
	s.check(want{"GET", "/old", "", 200, 10, 23, 0, 10})
	if r := s.got[0].Resp; !r.Complete || r.KeepAlive || r.End != 30 {
		t.Errorf("response %+v", r)
	}
	s.checkStats(Stats{Exchanges: 1})
}

func TestUnansweredAtClose(t *testing.T) {
	s := newScript(t, Server)
	s.read("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 10, 11)
	s.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 20, 21)
	s.close(30)
	s.check(want{"GET", "/1", "", 200, 11, 21, 0, 0})
	s.checkStats(Stats{Exchanges: 1, Unanswered: 1})
}

// A server may answer before reading the whole request.
func TestEarlyResponse(t *testing.T) {
	head := "POST /up HTTP/1.1\r\nContent-Length: 100000\r\n\r\n"
	reject := "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	t.Run("body completes", func(t *testing.T) {
		s := newScript(t, Server)
		s.readN(head+"xx", 4096, 10, 11)
		s.write(reject, 20, 21)
		s.readN("", 100000-4096+len(head), 30, 31)
		s.check(want{"POST", "/up", "", 413, 11, 21, 100000, 0})
		s.checkStats(Stats{Exchanges: 1})
	})
	t.Run("cut by close", func(t *testing.T) {
		s := newScript(t, Server)
		s.readN(head+"xx", 4096, 10, 11)
		s.write(reject, 20, 21)
		s.close(30)
		s.check(want{"POST", "/up", "", 413, 11, 21, uint64(4096 - len(head)), 0})
		if s.got[0].Req.Complete {
			t.Error("request reported complete")
		}
		s.checkStats(Stats{Exchanges: 1})
	})
	t.Run("response still being written", func(t *testing.T) {
		s := newScript(t, Server)
		s.readN(head, len(head), 10, 11)
		s.write("HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\n", 20, 21)
		s.readN("", 100000, 30, 31)
		s.write("nope", 40, 41)
		s.check(want{"POST", "/up", "", 413, 11, 41, 100000, 4})
		s.checkStats(Stats{Exchanges: 1})
	})
}

// A response to a request never seen (vigil started mid-connection) must
// not pair with the next request.
func TestOrphanResponse(t *testing.T) {
	s := newScript(t, Server)
	s.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5, 6)
	s.read("GET /next HTTP/1.1\r\n\r\n", 10, 11)
	s.write("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 20, 21)
	s.check(want{"GET", "/next", "", 201, 11, 21, 0, 0})
	s.checkStats(Stats{Exchanges: 1, Orphans: 1})
}

// When the response stream loses framing, the request whose response went
// with it is dropped rather than shifting every later pair.
func TestResponseLost(t *testing.T) {
	s := newScript(t, Server)
	s.read("GET /1 HTTP/1.1\r\n\r\n", 10, 11)
	r := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	s.writeN(r[:8], len(r), 20, 21) // header past the capture
	s.read("GET /2 HTTP/1.1\r\n\r\n", 30, 31)
	s.write(r, 40, 41)
	s.read("GET /3 HTTP/1.1\r\n\r\n", 50, 51)
	s.write(r, 60, 61)
	s.check(
		want{"GET", "/2", "", 200, 31, 41, 0, 2},
		want{"GET", "/3", "", 200, 51, 61, 0, 2},
	)
	s.checkStats(Stats{Exchanges: 2, Unanswered: 1})
}

func TestOverflow(t *testing.T) {
	s := newScript(t, Server)
	n := MaxOutstanding + 6
	for i := range n {
		s.read(fmt.Sprintf("GET /%d HTTP/1.1\r\n\r\n", i), 10, 11)
	}
	for range n {
		s.write("HTTP/1.1 204 No Content\r\n\r\n", 20, 21)
	}
	s.close(30)
	if len(s.got) != MaxOutstanding || s.got[0].Path != "/6" || s.got[MaxOutstanding-1].Path != fmt.Sprintf("/%d", n-1) {
		t.Fatalf("%d exchanges, first %s", len(s.got), describe(s.got[0]))
	}
	s.checkStats(Stats{Exchanges: uint64(MaxOutstanding), Overflow: 6, Orphans: 6})
}

func TestTunnel(t *testing.T) {
	s := newScript(t, Client)
	s.write("CONNECT db.internal:443 HTTP/1.1\r\nHost: db.internal:443\r\n\r\n", 10, 11)
	s.read("HTTP/1.1 200 Connection Established\r\n\r\n", 20, 21)
	s.write("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 30, 31)
	s.read("\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03", 40, 41)
	s.write("GET / HTTP/1.1\r\n\r\n", 50, 51) // inside TLS, whatever it looks like
	s.check(want{"CONNECT", "db.internal:443", "db.internal:443", 200, 10, 21, 0, 0})
	st := s.c.Stats()
	if st.Requests != (http1.Stats{Messages: 1}) || st.Responses != (http1.Stats{Messages: 1}) {
		t.Errorf("parser stats %+v", st)
	}
}

func TestCloseResets(t *testing.T) {
	s := newScript(t, Server)
	s.read("GET /1 HTTP/1.1\r\n\r\n", 10, 11)
	s.close(12)
	s.in, s.out = 0, 0 // a new connection with the same id
	s.read("GET /2 HTTP/1.1\r\n\r\n", 20, 21)
	s.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 30, 31)
	s.check(want{"GET", "/2", "", 200, 21, 31, 0, 0})
	s.checkStats(Stats{Exchanges: 1, Unanswered: 1})
}

func TestToEvent(t *testing.T) {
	s := newScript(t, Server)
	s.read("GET http://user:pw@proxy.example:8080/p/q?a=b#f HTTP/1.1\r\n\r\n", 10, 11)
	s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1_000_010, 1_000_011)
	s.check(want{"GET", "/p/q", "proxy.example:8080", 200, 11, 1_000_011, 0, 2})
	var ev event.HTTP
	ev.Route, ev.TraceID = "stale", "stale"
	ToEvent(s.got[0], &ev)
	wantEv := event.HTTP{
		Side: "server", Method: "GET", Path: "/p/q", Status: 200, DurationNs: 1_000_000,
		Host: "proxy.example:8080", ResponseBodyBytes: 2,
		Local: event.Endpoint{Addr: "10.0.0.1", Port: 8080},
		Peer:  event.Endpoint{Addr: "10.0.0.2", Port: 40000},
	}
	if ev != wantEv {
		t.Errorf("event\n got  %+v\n want %+v", ev, wantEv)
	}
}

// Secrets in a request's path parameters and in user info before its Host
// never reach the exchange.
func TestSecretsLeaveTargetAndHost(t *testing.T) {
	s := newScript(t, Server)
	s.read("GET /c;jsessionid=secret123/d;v=1?token=t#f HTTP/1.1\r\nHost: user:pw@svc:8080\r\n\r\n", 10, 11)
	s.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 20, 21)
	s.check(want{"GET", "/c/d", "svc:8080", 200, 11, 21, 0, 0})
}

func TestSplitTarget(t *testing.T) {
	for _, tc := range []struct{ target, path, authority string }{
		{"/", "/", ""},
		{"/users/42?token=secret", "/users/42", ""},
		{"/a#frag?x", "/a", ""},
		{"/search?q=a/b#x", "/search", ""},
		{"*", "*", ""},
		{"example.com:443", "example.com:443", ""},
		{"http://example.com", "/", "example.com"},
		{"HTTPS://u:p@example.com:8443/x/y?z", "/x/y", "example.com:8443"},
		{"http://example.com?secret=1", "/", "example.com"},
		// ;parameters (Java's jsessionid) are dropped like the query.
		{"/c;jsessionid=secret123", "/c", ""},
		{"/a;x/b;y=1/", "/a/b/", ""},
		{"/;jsessionid=1", "/", ""},
		{"/a;x;y/b", "/a/b", ""},
		{"/a/b;p=1?q=2#f", "/a/b", ""},
		{"http://h/c;jsessionid=s?x", "/c", "h"},
		{"/users/42", "/users/42", ""},
	} {
		path, authority := splitTarget(tc.target)
		if path != tc.path || authority != tc.authority {
			t.Errorf("%q: path %q authority %q, want %q %q", tc.target, path, authority, tc.path, tc.authority)
		}
		if strings.ContainsAny(path, "?#;") {
			t.Errorf("%q: path %q keeps a query, fragment or parameter", tc.target, path)
		}
	}
}

func TestSideString(t *testing.T) {
	if Server.String() != event.SideServer || Client.String() != event.SideClient || Side(9).String() != "Side(9)" {
		t.Error("side names")
	}
}

// Steady state, an exchange costs the strings its messages keep and one
// allocation for the exchange.
func TestAllocations(t *testing.T) {
	c := NewConn(ConnInfo{Side: Server})
	req := []byte("GET /api/users/42 HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	var in, out uint64
	n := 0
	emit := func(*Exchange) { n++ }
	allocs := testing.AllocsPerRun(1000, func() {
		c.Ingress(http1.Chunk{Pos: in, Size: uint32(len(req)), Data: req}, emit)
		c.Egress(http1.Chunk{Pos: out, Size: uint32(len(resp)), Data: resp}, emit)
		in += uint64(len(req))
		out += uint64(len(resp))
	})
	if n < 1000 || allocs > 3 { // Target, Host, the exchange
		t.Errorf("%d exchanges, %.1f allocations each", n, allocs)
	}
}

// A request whose header block is larger than one syscall's capture (a big
// cookie or JWT in one write) is still an exchange, on the server and on
// the client side; the next request on the connection is too.
func TestHeaderLargerThanTheCapture(t *testing.T) {
	const capture = 4096
	big := "GET /big HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", 4100) + "\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	next := "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, side := range []Side{Server, Client} {
		t.Run(side.String(), func(t *testing.T) {
			s := newScript(t, side)
			send, answer := s.readN, s.write
			if side == Client {
				send, answer = s.writeN, s.read
			}
			send(big[:capture], len(big), 10, 11)
			answer(resp, 20, 21)
			send(next, len(next), 30, 31)
			answer(resp, 40, 41)
			start := func(enter, exit uint64) uint64 {
				if side == Server {
					return exit
				}
				return enter
			}
			s.check(
				want{"GET", "/big", "x", 200, start(10, 11), 21, 0, 2},
				want{"GET", "/next", "x", 200, start(30, 31), 41, 0, 2},
			)
			if s.got[0].Req.Complete {
				t.Error("the cut request is reported complete")
			}
		})
	}
}
