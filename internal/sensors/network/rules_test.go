package network_test

// The network sensor in a whole agent running rules (internal/agenttest),
// as an external test package.

import (
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/kernel"
)

func TestDenyConnectFailsWithEPERM(t *testing.T) {
	if _, err := kernel.Cgroup2Path(); err != nil {
		bpftest.SkipOrFail(t, "no cgroup v2 mount: "+err.Error())
	}
	denied, allowed := acceptor(t), acceptor(t)
	s := agenttest.StartSecurity(t, fmt.Sprintf(`
  - name: no-port
    description: nothing connects to the denied port
    severity: high
    events: [connect]
    match:
      destination: {cidr: [127.0.0.0/8], ports: [%d]}
    action: deny
`, denied))
	if got := agenttest.Connect(t, denied); got != fmt.Sprintf("errno %d", syscall.EPERM) {
		t.Errorf("connect to the denied port: %q, want errno %d (EPERM)", got, syscall.EPERM)
	}
	if got := agenttest.Connect(t, allowed); got != "ok" {
		t.Errorf("connect to another port: %q, want ok", got)
	}
	a := s.AlertFor("no-port", func(e *event.Event) bool {
		return e.Kind == event.KindConnect && e.Net.Peer != nil && e.Net.Peer.Port == uint16(denied)
	})
	if a.Alert.Action != event.ActionDeny || a.Alert.Event.Net.Peer.Addr != "127.0.0.1" {
		t.Errorf("alert %+v, peer %+v: want deny of 127.0.0.1", a.Alert, a.Alert.Event.Net.Peer)
	}
	s.Barrier()
	if n := len(s.Alerts("no-port")); n != 1 {
		t.Errorf("%d alerts, want 1", n)
	}
}

// acceptor opens a loopback listener that accepts and closes, and returns
// its port.
func acceptor(t *testing.T) int {
	t.Helper()
	return agenttest.Serve(t, func(c net.Conn) { c.Close() })
}

// TestNetworkKinds makes a real python3 do one of each call and checks
// every event's fields, emitted whole (vigil trace --kind ...).
func TestNetworkKinds(t *testing.T) {
	s := agenttest.StartSecurity(t, "", event.KindConnect, event.KindAccept, event.KindBind, event.KindListen,
		event.KindSocket, event.KindDup)
	pid, out := s.Python(`
import os, socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
port = srv.getsockname()[1]
c = socket.socket()
c.connect(("127.0.0.1", port))
conn, _ = srv.accept()
os.dup2(c.fileno(), 2)
p = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
print(port, flush=True)
`)
	var port int
	fmt.Sscan(out, &port)
	bind := s.EventOf(event.KindBind, pid, nil)
	if bind.Net.Local == nil || bind.Net.Local.Addr != "127.0.0.1" || bind.Net.Family != "AF_INET" {
		t.Errorf("bind %+v", bind.Net)
	}
	agenttest.Succeeded(t, bind, "bind")
	listenEv := s.EventOf(event.KindListen, pid, nil)
	if listenEv.Net.Local == nil || int(listenEv.Net.Local.Port) != port {
		t.Errorf("listen local %+v, want port %d", listenEv.Net.Local, port)
	}
	conn := s.EventOf(event.KindConnect, pid, func(e *event.Event) bool { return e.Net.Peer != nil && int(e.Net.Peer.Port) == port })
	if conn.Net.Type != "SOCK_STREAM" || conn.Net.Result != 0 {
		t.Errorf("connect %+v result %v", conn.Net, conn.Net.Result)
	}
	acc := s.EventOf(event.KindAccept, pid, nil)
	if acc.Net.Local == nil || int(acc.Net.Local.Port) != port || acc.Net.Peer == nil || acc.Net.Peer.Addr != "127.0.0.1" {
		t.Errorf("accept %+v", acc.Net)
	}
	dup := s.EventOf(event.KindDup, pid, nil)
	if dup.Net.NewFD == nil || *dup.Net.NewFD != 2 || dup.Net.Peer == nil || int(dup.Net.Peer.Port) != port {
		t.Errorf("dup %+v", dup.Net)
	}
	pkt := s.EventOf(event.KindSocket, pid, func(e *event.Event) bool { return e.Net.Family == "AF_PACKET" })
	if pkt.Net.Type != "SOCK_RAW" {
		t.Errorf("packet socket type %q", pkt.Net.Type)
	}
}

// TestHighRegisterBitsHideNothing: the kernel reads descriptors from the
// low bits of their registers only (int, unsigned int), so a caller may
// set the high bits without changing what the call does. The sensor must
// read them the same way: a dup2 of a socket passed as fd | 1 << 32 is
// still a socket over stderr. (The file and privilege sensors have theirs.)
func TestHighRegisterBitsHideNothing(t *testing.T) {
	s := agenttest.StartSecurity(t, "", event.KindDup)
	pid, _ := s.Python(`
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long
HIGH = 1 << 32
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.socket(); c.connect(srv.getsockname()); conn, _ = srv.accept()
assert libc.syscall(33, L(c.fileno() | HIGH), L(2)) == 2           # dup2
`)
	if dup := s.EventOf(event.KindDup, pid, nil); dup.Net.NewFD == nil || *dup.Net.NewFD != 2 || dup.Net.Peer == nil || dup.Net.Peer.Addr != "127.0.0.1" {
		t.Errorf("dup2 of a socket given with high bits: %+v", dup.Net)
	}
}
