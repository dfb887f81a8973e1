package sockdata

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTCPTable(t *testing.T) {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1200 1 0000000064e4532d 100 0 0 10 0
   1: 0100007F:E966 0100007F:1F90 01 00000000:00000000 03:00000B5D 00000000     0        0 4242 3 00000000a47c6985
   2: 0100007F:E967 0100007F:1F90 06 00000000:00000000 03:00000B5D 00000000     0        0 0 3 00000000a47c6985
`
	const table6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:94F7 0000000000000000FFFF00000100007F:998C 01 00000000:00000000 03:00000D98 00000000     0        0 777 3 00000000b43f4724
`
	socks := map[uint64]tcpSocket{}
	if err := parseTCPTable(strings.NewReader(table), socks); err != nil {
		t.Fatal(err)
	}
	if err := parseTCPTable(strings.NewReader(table6), socks); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]tcpSocket{
		1200: {netip.MustParseAddrPort("0.0.0.0:8080"), netip.MustParseAddrPort("0.0.0.0:0"), tcpListen},
		4242: {netip.MustParseAddrPort("127.0.0.1:59750"), netip.MustParseAddrPort("127.0.0.1:8080"), tcpEstablished},
		777:  {netip.MustParseAddrPort("[::1]:38135"), netip.MustParseAddrPort("[::ffff:127.0.0.1]:39308"), tcpEstablished},
	}
	if len(socks) != len(want) {
		t.Fatalf("got %d sockets, want %d (time-wait without inode skipped): %v", len(socks), len(want), socks)
	}
	for inode, w := range want {
		if socks[inode] != w {
			t.Errorf("inode %d: got %+v, want %+v", inode, socks[inode], w)
		}
	}
	if err := parseTCPTable(strings.NewReader("hdr\n 0: zz:1 00:0 01 0 0 0 0 0 1 1\n"), socks); err == nil {
		t.Error("bad hex accepted")
	}
}

// A keep-alive connection opened before the sensor is still captured after
// Seed, on both sides.
func TestSeedExistingKeepAliveConnection(t *testing.T) {
	var port uint16
	srvPort := func() uint16 { return port }
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = uint16(ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func(path string) {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", srvPort(), path))
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	get("/before") // opens the connection before the sensor exists

	c := startSensor(t)
	n, err := c.s.Seed("/proc", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("seeded %d connections, want at least this test's two ends", n)
	}
	get("/after") // same keep-alive connection

	for _, side := range []Side{Server, Client} {
		open, data, _ := c.waitConn(fmt.Sprintf("seeded side %d", side), func(r Record) bool {
			return r.Side == side && (r.Local.Port == port || r.Peer.Port == port)
		}, func(d []Record, _ *Record) bool { return len(d) >= 2 })
		if open.ConnID < seedIDBase {
			t.Errorf("side %d: conn id %d is not a seeded one", side, open.ConnID)
		}
		all := string(concat(data, Ingress)) + string(concat(data, Egress))
		if !strings.Contains(all, "GET /after HTTP/1.1") || !strings.Contains(all, "ok /after") || strings.Contains(all, "/before") {
			t.Errorf("side %d captured %q", side, all)
		}
	}
}
