package event

import (
	"strings"
	"testing"
)

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"example.com":      "example.com",
		"example.com:80":   "example.com",
		"10.0.0.1:80":      "10.0.0.1",
		"[::1]:80":         "::1",
		"[::1]":            "::1",
		"[::1":             "[::1",
		"2001:db8::1":      "2001:db8::1",
		":80":              "",
		"Example.COM:8080": "Example.COM",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostName(t *testing.T) {
	long := strings.Repeat("a.", MaxHostLen/2) + "io" // 254 bytes
	for in, want := range map[string]string{
		"":                              "",
		"example.com":                   "example.com",
		"Example.COM:8080":              "example.com",
		"example.com.":                  "example.com",
		"svc_a-1.ns.svc":                "svc_a-1.ns.svc",
		"localhost":                     "localhost",
		"10.0.0.1:80":                   "10.0.0.1",
		"[::1]:80":                      "::1",
		"[2001:DB8::1]":                 "2001:db8::1",
		"2001:db8::1":                   "2001:db8::1",
		"[::ffff:10.0.0.7]:80":          "10.0.0.7",
		"user:pass@example.com":         "example.com",
		"user:pass@example.com:443":     "example.com",
		"a@b@example.com":               "example.com",
		"user:pass@":                    "",
		"[fe80::1%25eth0]:80":           "",
		"[::1":                          "",
		":80":                           "",
		"a b":                           "",
		"example.com/path?token=x":      "",
		"evil\"}":                       "",
		"a..b":                          "",
		".":                             "",
		"1.2.3.999":                     "",
		"010.0.0.1":                     "",
		"12345":                         "",
		"h\xffst":                       "",
		"bücher.example":                "",
		strings.Repeat("a", 64) + ".io": "",
		strings.Repeat("a", 63) + ".io": strings.Repeat("a", 63) + ".io",
		long:                            "",
		long[2:]:                        long[2:],
	} {
		if got := hostName(in); got != want {
			t.Errorf("hostName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServerAddress(t *testing.T) {
	for _, tc := range []struct{ host, peer, want string }{
		{"api.example.com:443", "10.0.0.1", "api.example.com"},
		{"u:p@API.example.com", "10.0.0.1", "api.example.com"},
		{"junk junk", "10.0.0.1", "10.0.0.1"},
		{"", "::ffff:10.0.0.7", "10.0.0.7"},
		{"", "2001:db8::2", "2001:db8::2"},
	} {
		h := HTTP{Host: tc.host, Peer: Endpoint{Addr: tc.peer}}
		if got := h.ServerAddress(); got != tc.want {
			t.Errorf("ServerAddress(Host %q, peer %q) = %q, want %q", tc.host, tc.peer, got, tc.want)
		}
	}
	h := HTTP{Host: "api.example.com:443"}
	if n := testing.AllocsPerRun(100, func() { _ = h.ServerAddress() }); n != 0 {
		t.Errorf("ServerAddress of a lower-case name: %v allocs, want 0", n)
	}
}

func TestKnownMethod(t *testing.T) {
	for _, meth := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"} {
		if got := KnownMethod(meth); got != meth {
			t.Errorf("KnownMethod(%q) = %q", meth, got)
		}
	}
	for _, meth := range []string{"", "get", "Get", "PROPFIND", "QUERY", "GET ", "\xff"} {
		if got := KnownMethod(meth); got != OtherMethod {
			t.Errorf("KnownMethod(%q) = %q, want %q", meth, got, OtherMethod)
		}
	}
}
