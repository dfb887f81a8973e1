package sockdata

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/bpftest"
)

// collected is a copy of a record, with its own Data.
type collected struct {
	Record
}

type collector struct {
	t    *testing.T
	s    *Sensor
	mu   sync.Mutex
	recs []collected
	bad  int
}

func startSensor(t *testing.T) *collector {
	t.Helper()
	bpftest.Require(t)
	leaks := bpftest.NewLeakCheck(t)
	ring, err := bpfrt.NewRing(Source, 16<<20, 8192)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Ring: ring})
	if err != nil {
		ring.Close()
		t.Fatalf("load sockdata sensor: %v", err)
	}
	leaks.Record()
	c := &collector{t: t, s: s}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ring.Each(ctx, func(raw []byte) {
			var rec Record
			err := Decode(raw, &rec)
			if err == nil {
				rec.Data = bytes.Clone(rec.Data)
			}
			c.mu.Lock()
			if err != nil {
				c.bad++
			} else {
				c.recs = append(c.recs, collected{rec})
			}
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := ring.Close(); err != nil {
			t.Errorf("close ring: %v", err)
		}
	})
	return c
}

// conn returns the records of the connection whose open record matches.
func (c *collector) conn(match func(Record) bool) (open Record, data []Record, closed *Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var id uint64
	for _, r := range c.recs {
		if r.Type == bpfrt.RecordConnOpen && match(r.Record) {
			open, id = r.Record, r.ConnID
		}
	}
	for _, r := range c.recs {
		if r.ConnID != id || id == 0 {
			continue
		}
		switch r.Type {
		case bpfrt.RecordData:
			data = append(data, r.Record)
		case bpfrt.RecordConnClose:
			rr := r.Record
			closed = &rr
		}
	}
	return open, data, closed
}

func (c *collector) waitConn(what string, match func(Record) bool, done func(data []Record, closed *Record) bool) (Record, []Record, *Record) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		open, data, closed := c.conn(match)
		if open.ConnID != 0 && done(data, closed) {
			return open, data, closed
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s (open %v, %d data records, closed %v)", what, open.ConnID != 0, len(data), closed != nil)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stream reassembles one direction and checks positions are contiguous.
func stream(t *testing.T, data []Record, dir Direction) (captured []byte, total uint64) {
	t.Helper()
	for _, r := range data {
		if r.Direction != dir {
			continue
		}
		if r.Pos != total {
			t.Fatalf("direction %d: record at position %d, expected %d", dir, r.Pos, total)
		}
		if r.ExitNs < r.EnterNs {
			t.Errorf("exit %d before enter %d", r.ExitNs, r.EnterNs)
		}
		if len(r.Data) < int(r.Size) && len(r.Data) != 4096 && !r.Sendfile {
			t.Errorf("captured %d of %d bytes", len(r.Data), r.Size)
		}
		captured = append(captured, r.Data...)
		total += uint64(r.Size)
	}
	return captured, total
}

// goServer starts an HTTP server in this test process.
func goServer(t *testing.T, h http.Handler) (port uint16) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func TestCurlAgainstGoServerKeepAlive(t *testing.T) {
	c := startSensor(t)
	port := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	// One curl, three requests on one keep-alive connection.
	out, err := exec.Command("curl", "-sS", url+"/a", url+"/bb", url+"/ccc").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	if string(out) != "hello /ahello /bbhello /ccc" {
		t.Fatalf("curl got %q", out)
	}

	serverSide := func(r Record) bool { return r.Side == Server && r.Local.Port == port && r.PID == uint32(os.Getpid()) }
	open, data, _ := c.waitConn("server side of curl's connection", serverSide, func(d []Record, _ *Record) bool {
		return strings.Count(string(concat(d, Egress)), "HTTP/1.1 200 OK") == 3
	})
	if open.Local.Addr != "127.0.0.1" || open.Peer.Addr != "127.0.0.1" || open.Peer.Port == 0 {
		t.Errorf("server endpoints: local %+v peer %+v", open.Local, open.Peer)
	}
	req, _ := stream(t, data, Ingress)
	resp, _ := stream(t, data, Egress)
	for _, p := range []string{"/a", "/bb", "/ccc"} {
		if !bytes.Contains(req, []byte("GET "+p+" HTTP/1.1\r\n")) || !bytes.Contains(resp, []byte("hello "+p)) {
			t.Errorf("path %s missing from the captured streams", p)
		}
	}
	if n := bytes.Count(req, []byte("GET ")); n != 3 {
		t.Errorf("server read %d requests, want 3", n)
	}

	// The client side is curl's process: same bytes, other directions.
	clientSide := func(r Record) bool { return r.Side == Client && r.Peer.Port == port }
	copen, cdata, cclosed := c.waitConn("curl's side", clientSide, func(_ []Record, closed *Record) bool { return closed != nil })
	creq, creqTotal := stream(t, cdata, Egress)
	cresp, crespTotal := stream(t, cdata, Ingress)
	if !bytes.Equal(creq, req) || !bytes.Equal(cresp, resp) {
		t.Errorf("client and server captures differ:\nclient wrote %q\nserver read  %q", creq, req)
	}
	if cclosed.Total != [2]uint64{crespTotal, creqTotal} {
		t.Errorf("close totals %v, want [%d %d]", cclosed.Total, crespTotal, creqTotal)
	}
	if copen.PID == uint32(os.Getpid()) || copen.Local.Port != open.Peer.Port {
		t.Errorf("client conn: pid %d, local port %d (server saw peer port %d)", copen.PID, copen.Local.Port, open.Peer.Port)
	}
}

func concat(data []Record, dir Direction) []byte {
	var b []byte
	for _, r := range data {
		if r.Direction == dir {
			b = append(b, r.Data...)
		}
	}
	return b
}

func TestLargeBodyAndSendfile(t *testing.T) {
	c := startSensor(t)
	dir := t.TempDir()
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16) // 64 KiB
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	port := goServer(t, http.FileServer(http.Dir(dir)))
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/big.bin", port))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatal("body mismatch")
	}
	// Go's file server sends the file with sendfile(2).
	_, data, _ := c.waitConn("server side", func(r Record) bool { return r.Side == Server && r.Local.Port == port }, func(d []Record, _ *Record) bool {
		_, total := stream(t, d, Egress)
		return total >= uint64(len(body))
	})
	_, total := stream(t, data, Egress)
	var sendfileBytes uint64
	for _, r := range data {
		if r.Sendfile {
			sendfileBytes += uint64(r.Size)
			if len(r.Data) != 0 {
				t.Errorf("sendfile record with %d captured bytes", len(r.Data))
			}
		}
	}
	// net/http writes the first 512 bytes itself (it sniffs them for the
	// content type) and sends the rest of the file with sendfile.
	if sendfileBytes != uint64(len(body)-512) {
		t.Errorf("sendfile carried %d bytes, want %d", sendfileBytes, len(body)-512)
	}
	// The client side read it with plain reads: captured is capped per read.
	_, cdata, _ := c.waitConn("client side", func(r Record) bool { return r.Side == Client && r.Peer.Port == port }, func(d []Record, _ *Record) bool {
		_, n := stream(t, d, Ingress)
		return n == total
	})
	for _, r := range cdata {
		if len(r.Data) > 4096 {
			t.Errorf("captured %d bytes, more than the 4096 cap", len(r.Data))
		}
	}
}

func TestNonHTTPConnectionIsIgnored(t *testing.T) {
	c := startSensor(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(conn, conn)
		conn.Close()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// TLS-like binary first bytes, then something that looks like HTTP:
	// classification is by the first bytes, so nothing is captured.
	for _, msg := range [][]byte{{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01}, []byte("GET / HTTP/1.1\r\n\r\n")} {
		conn.Write(msg)
		io.ReadFull(conn, make([]byte, len(msg)))
	}
	conn.Close()
	// An HTTP exchange afterwards proves the sensor was running.
	port := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.waitConn("the HTTP connection", func(r Record) bool { return r.Side == Server && r.Local.Port == port }, func(d []Record, _ *Record) bool { return len(d) >= 2 })
	echoPort := uint16(ln.Addr().(*net.TCPAddr).Port)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.recs {
		if r.Type == bpfrt.RecordConnOpen && (r.Local.Port == echoPort || r.Peer.Port == echoPort) {
			t.Errorf("non-HTTP connection was reported: %+v", r.Record)
		}
	}
	if c.bad != 0 {
		t.Errorf("%d malformed records", c.bad)
	}
}

func TestIPv6AndPythonServer(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		bpftest.SkipOrFail(t, "python3 is not installed (scripts/setup.sh installs it)")
	}
	c := startSensor(t)
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		bpftest.SkipOrFail(t, "no IPv6 loopback: "+err.Error())
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>hi</p>"), 0o644)
	srv := exec.Command("python3", "-m", "http.server", "--bind", "::1", fmt.Sprint(port))
	srv.Dir = dir
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	url := fmt.Sprintf("http://[::1]:%d/index.html", port)
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(url)
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("python http.server never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if string(body) != "<p>hi</p>" {
		t.Fatalf("body %q", body)
	}
	open, data, _ := c.waitConn("python's side", func(r Record) bool {
		return r.Side == Server && r.PID == uint32(srv.Process.Pid) && r.Local.Port == uint16(port)
	}, func(d []Record, _ *Record) bool { return bytes.Contains(concat(d, Egress), []byte("<p>hi</p>")) })
	if open.Local.Addr != "::1" || open.Peer.Addr != "::1" {
		t.Errorf("IPv6 endpoints: %+v %+v", open.Local, open.Peer)
	}
	if req, _ := stream(t, data, Ingress); !bytes.HasPrefix(req, []byte("GET /index.html HTTP/1.1\r\n")) {
		t.Errorf("python read %q", req)
	}
	if resp, _ := stream(t, data, Egress); !bytes.HasPrefix(resp, []byte("HTTP/1.0 200 OK\r\n")) {
		t.Errorf("python wrote %q", resp)
	}
}

// close(2) is seen at its exit, when the fd may already name another
// socket, and an fd can change without any close(2). On one fd number:
// dup3 over the first connection ends it at the dup3; the second is
// closed with close_range(2), which vigil does not hook, so its entry is
// left stale until a new socket on the same fd is connected, which ends it
// with its totals; the third ends with its close. Each has its own id.
func TestFdReusedBeforeCloseIsSeen(t *testing.T) {
	c := startSensor(t)
	port := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok "+r.URL.Path)
	}))
	sa := &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}
	exchange := func(fd int, path string) [2]uint64 { return rawExchange(t, fd, sa, path) }
	socket := func() int { return rawSocket(t) }
	onFD := func(fd int) func(Record) bool {
		return func(r Record) bool {
			return r.Side == Client && r.Peer.Port == port && r.PID == uint32(os.Getpid()) && r.FD == uint32(fd)
		}
	}

	fd := socket()
	var want [3][2]uint64
	want[0] = exchange(fd, "/first")
	other := socket()
	if err := unix.Dup3(other, fd, unix.O_CLOEXEC); err != nil { // the first socket goes, with no close(2)
		t.Fatal(err)
	}
	unix.Close(other)
	c.waitConn("the first connection's close at dup3", onFD(fd), func(_ []Record, closed *Record) bool { return closed != nil })
	want[1] = exchange(fd, "/second")
	if err := unix.CloseRange(uint(fd), uint(fd), 0); err != nil { // unhooked: the entry stays
		t.Fatal(err)
	}
	if again := socket(); again != fd {
		unix.Close(again)
		t.Fatalf("the new socket got fd %d, not the freed %d", again, fd)
	}
	want[2] = exchange(fd, "/third")
	if err := unix.Close(fd); err != nil {
		t.Fatal(err)
	}

	// The three connections, in record order.
	type conn struct {
		id            uint64
		openAt        int
		closeAt       int
		total         [2]uint64
		egress        []byte
		closedRecords int
	}
	var conns []*conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		conns = nil
		byID := map[uint64]*conn{}
		c.mu.Lock()
		for i, r := range c.recs {
			switch {
			case r.Type == bpfrt.RecordConnOpen && onFD(fd)(r.Record):
				cn := &conn{id: r.ConnID, openAt: i, closeAt: -1}
				conns = append(conns, cn)
				byID[r.ConnID] = cn
			case r.Type == bpfrt.RecordData && byID[r.ConnID] != nil && r.Direction == Egress:
				byID[r.ConnID].egress = append(byID[r.ConnID].egress, r.Data...)
			case r.Type == bpfrt.RecordConnClose && byID[r.ConnID] != nil:
				cn := byID[r.ConnID]
				cn.closeAt, cn.total = i, r.Total
				cn.closedRecords++
			}
		}
		c.mu.Unlock()
		if len(conns) == 3 && conns[0].closeAt >= 0 && conns[1].closeAt >= 0 && conns[2].closeAt >= 0 {
			break
		}
		if time.Now().After(deadline) {
			var have []string
			for _, cn := range conns {
				have = append(have, fmt.Sprintf("id %d open at %d close at %d", cn.id, cn.openAt, cn.closeAt))
			}
			t.Fatalf("want three client connections on fd %d, all closed (close at >= 0); have %d: %s", fd, len(conns), strings.Join(have, "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, path := range []string{"/first", "/second", "/third"} {
		cn := conns[i]
		if !bytes.Contains(cn.egress, []byte("GET "+path+" ")) {
			t.Errorf("connection %d captured %q, want the request for %s", i, cn.egress, path)
		}
		if cn.total != want[i] {
			t.Errorf("connection %d (%s) closed with totals %v, want %v", i, path, cn.total, want[i])
		}
		if cn.closedRecords != 1 {
			t.Errorf("connection %d (%s): %d close records, want one", i, path, cn.closedRecords)
		}
		if i > 0 && conns[i-1].id == cn.id {
			t.Errorf("connections %d and %d share id %d", i-1, i, cn.id)
		}
		// Each ends before the next one opens: at the dup3, and when the
		// reused fd is tracked again.
		if i > 0 && conns[i-1].closeAt > cn.openAt {
			t.Errorf("connection %d closed (record %d) after connection %d opened (record %d)", i-1, conns[i-1].closeAt, i, cn.openAt)
		}
	}
}

// rawSocket returns a new TCP socket's fd, for tests that need fd numbers
// under their control.
func rawSocket(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// rawExchange connects fd to sa, sends a GET for path and reads the reply
// of a goServer whose handler answers "ok <path>". It returns what the
// connection's close record must count: [ingress, egress].
func rawExchange(t *testing.T, fd int, sa unix.Sockaddr, path string) [2]uint64 {
	t.Helper()
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatalf("connect: %v", err)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := unix.Write(fd, []byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	var resp []byte
	buf := make([]byte, 4096)
	for !bytes.HasSuffix(resp, []byte("ok "+path)) {
		n, err := unix.Read(fd, buf)
		if err != nil || n == 0 {
			t.Fatalf("read after %q: %d, %v", resp, n, err)
		}
		resp = append(resp, buf[:n]...)
	}
	return [2]uint64{uint64(len(resp)), uint64(len(req))}
}

// An fd can lose its socket with no hooked syscall: close_range(2) here;
// exec closing O_CLOEXEC fds, or a reused pid, the same way. When the fd
// number then holds a file, reading and writing it must capture nothing:
// the kernel notices that the fd no longer holds the connection's socket
// and ends the connection there, with its totals.
func TestFdThatLostItsSocketCapturesNothing(t *testing.T) {
	c := startSensor(t)
	port := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok "+r.URL.Path)
	}))
	sa := &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}
	onFD := func(fd int) func(Record) bool {
		return func(r Record) bool {
			return r.Side == Client && r.Peer.Port == port && r.PID == uint32(os.Getpid()) && r.FD == uint32(fd)
		}
	}

	fd := rawSocket(t)
	want := rawExchange(t, fd, sa, "/before")
	c.waitConn("the connection's request", onFD(fd), func(d []Record, _ *Record) bool {
		return bytes.Contains(concat(d, Egress), []byte("GET /before "))
	})
	secret := "GET /from-a-file HTTP/1.1\r\nHost: secret\r\n\r\n"
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.CloseRange(uint(fd), uint(fd), 0); err != nil { // unhooked
		t.Fatal(err)
	}
	ffd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ffd)
	if ffd != fd {
		t.Fatalf("the file got fd %d, not the freed %d", ffd, fd)
	}
	buf := make([]byte, 4096)
	if n, err := unix.Read(ffd, buf); err != nil || n != len(secret) {
		t.Fatalf("read the file: %d, %v", n, err)
	}
	if _, err := unix.Write(ffd, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}

	// The file's syscalls ran before this exchange's, so their records, if
	// any, were reserved in the ring before its.
	marker := rawSocket(t)
	defer unix.Close(marker)
	rawExchange(t, marker, sa, "/marker")
	c.waitConn("the marker exchange", onFD(marker), func(d []Record, _ *Record) bool {
		return bytes.Contains(concat(d, Egress), []byte("GET /marker "))
	})
	open, data, closed := c.conn(onFD(fd))
	if closed == nil {
		t.Errorf("connection %d on fd %d was not ended when the fd turned out to hold a file", open.ConnID, fd)
	} else if closed.Total != want {
		t.Errorf("closed with totals %v, want %v", closed.Total, want)
	}
	if got := concat(data, Ingress); bytes.Contains(got, []byte("from-a-file")) || !bytes.HasSuffix(got, []byte("ok /before")) {
		t.Errorf("connection captured ingress %q: want the response only, nothing of the file", got)
	}
	if got := concat(data, Egress); string(got) != "GET /before HTTP/1.1\r\nHost: x\r\n\r\n" {
		t.Errorf("connection captured egress %q: want the request only, nothing written to the file", got)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.recs {
		if r.Type == bpfrt.RecordData && (bytes.Contains(r.Data, []byte("from-a-file")) || (r.ConnID == open.ConnID && r.Direction == Egress && bytes.HasPrefix(r.Data, []byte("HTTP/1.1 200")))) {
			t.Errorf("the file's bytes were captured as connection %d's data: %q", r.ConnID, r.Data)
		}
		if r.Type == bpfrt.RecordConnOpen && r.PID == uint32(os.Getpid()) && r.FD == uint32(fd) && r.ConnID != open.ConnID {
			t.Errorf("a connection %d was opened on the file's fd", r.ConnID)
		}
	}
}

// A connection is classified by what servers accept, and by the bytes a
// first write that is shorter than a request line has: each of these
// requests, which a Go server answers, is captured whole, on the server's
// side and on the client's.
func TestRequestShapesServersAccept(t *testing.T) {
	c := startSensor(t)
	port := goServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok %s", r.Method)
	}))
	sa := &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}
	req := func(method string) string {
		return method + " /shape HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	}
	for _, tc := range []struct {
		name   string
		writes []string
	}{
		{"first write shorter than a request line", []string{"GET /", "shape HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}},
		{"a byte per write", strings.Split(req("GET"), "")},
		{"WebDAV method", []string{req("PROPFIND")}},
		{"lower-case method", []string{req("get")}},
		{"empty line first", []string{"\r\n" + req("GET")}},
	} {
		// Not subtests: the collector waits on the test's own t.
		func() {
			fd := rawSocket(t)
			defer unix.Close(fd)
			if err := unix.Connect(fd, sa); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			local, err := unix.Getsockname(fd)
			if err != nil {
				t.Fatal(err)
			}
			lport := uint16(local.(*unix.SockaddrInet4).Port)
			var sent string
			for _, w := range tc.writes {
				if _, err := unix.Write(fd, []byte(w)); err != nil {
					t.Fatal(err)
				}
				sent += w
			}
			var resp []byte
			buf := make([]byte, 4096)
			for {
				n, err := unix.Read(fd, buf)
				if err != nil || n == 0 {
					break
				}
				resp = append(resp, buf[:n]...)
			}
			if !bytes.Contains(resp, []byte("HTTP/1.1 ")) {
				t.Fatalf("%s: the server did not answer: %q", tc.name, resp)
			}
			for _, side := range []struct {
				name  string
				match func(Record) bool
				dir   Direction
			}{
				{"client", func(r Record) bool { return r.Side == Client && r.Local.Port == lport }, Egress},
				{"server", func(r Record) bool { return r.Side == Server && r.Peer.Port == lport }, Ingress},
			} {
				_, data, _ := c.waitConn(tc.name+", "+side.name+" side", side.match, func(d []Record, _ *Record) bool {
					return len(concat(d, side.dir)) >= len(sent)
				})
				if got, _ := stream(t, data, side.dir); string(got) != sent {
					t.Errorf("%s: %s side captured %q, want %q", tc.name, side.name, got, sent)
				}
			}
		}()
	}
}
