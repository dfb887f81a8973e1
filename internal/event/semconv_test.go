package event

import "testing"

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
