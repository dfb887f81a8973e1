package policy

import (
	"net/netip"
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
)

func connect(addr string, port uint16) *event.Event {
	return netEv(event.KindConnect, proc("/usr/bin/curl"), event.Net{Family: "AF_INET", Peer: &event.Endpoint{Addr: addr, Port: port}})
}

func TestDestination(t *testing.T) {
	p := compileYAML(t, `
rules:
  - {name: private, description: d, severity: low, events: [connect], match: {destination: {cidr: [10.0.0.0/8, "fd00::/8"], not_cidr: [10.1.0.0/16]}}}
  - {name: ssh, description: d, severity: low, events: [connect], match: {destination: {ports: ["22", "2222"]}}}
  - {name: not-local, description: d, severity: low, events: [connect], match: {destination: {not_cidr: [127.0.0.0/8, "::1"], not_ports: ["53"]}}}
  - {name: any, description: d, severity: low, events: [connect]}
  - {name: host, description: d, severity: low, events: [connect], match: {destination: {cidr: [10.1.2.3]}}}
`)
	const private, ssh, notLocal, anyDest, host = 1, 2, 4, 8, 16
	if p.DestV4.Wild != anyDest || p.DestV6.Wild != anyDest {
		t.Errorf("wild v4 %b v6 %b, want only the rule without destination", p.DestV4.Wild, p.DestV6.Wild)
	}
	for _, c := range []struct {
		addr string
		port uint16
		want uint64
	}{
		{"10.2.3.4", 80, private | notLocal | anyDest},
		{"10.1.2.4", 80, notLocal | anyDest},
		{"10.1.2.3", 80, notLocal | anyDest | host}, // closure: /32 inside the excluded /16
		{"10.2.3.4", 22, private | ssh | notLocal | anyDest},
		{"127.0.0.1", 22, ssh | anyDest},
		{"8.8.8.8", 53, anyDest},
		{"8.8.8.8", 443, notLocal | anyDest},
		{"::ffff:10.2.3.4", 80, private | notLocal | anyDest}, // mapped: looked up as IPv4
		{"fd12::1", 2222, private | ssh | notLocal | anyDest},
		{"::1", 80, anyDest},
		{"2001:db8::1", 80, notLocal | anyDest},
		{"fe80::1%eth0", 80, notLocal | anyDest},
	} {
		if got := p.KernelMask(connect(c.addr, c.port)); got != c.want {
			t.Errorf("connect %s:%d = %05b, want %05b", c.addr, c.port, got, c.want)
		}
	}
	// No IP destination (a unix socket): destination rules never match.
	unix := netEv(event.KindConnect, proc("/usr/bin/curl"), event.Net{Family: "AF_UNIX"})
	if got := p.KernelMask(unix); got != anyDest {
		t.Errorf("unix connect = %b, want %b", got, anyDest)
	}
	// The tries are closed: 10.1.0.0/16 carries 10.0.0.0/8's bit.
	for _, e := range p.DestV4.Entries {
		if e.Prefix == netip.MustParsePrefix("10.1.0.0/16") && e.Pos&private == 0 {
			t.Errorf("10.1.0.0/16 lacks the enclosing /8's rule: %+v", e)
		}
	}
	if got := p.DestV4.Match(netip.MustParseAddr("10.9.9.9")); got != private|ssh|notLocal|anyDest {
		t.Errorf("DestV4.Match(10.9.9.9) = %b", got)
	}
	if got := p.Ports.Match(22); got != ssh|private|notLocal|anyDest|host {
		t.Errorf("Ports.Match(22) = %b", got)
	}
	if got := p.Ports.Match(53); got != private|anyDest|host {
		t.Errorf("Ports.Match(53) = %b", got)
	}
}
