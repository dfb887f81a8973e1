package event

import (
	"net/netip"
	"strings"
)

// The OpenTelemetry semantic conventions' values that vigil's exporters
// share: the metrics (http_request_method, service_name, server_address)
// and the spans (http.request.method, service.name, server.address) say
// the same thing the same way.
const (
	// OtherMethod replaces a request method that is not standard.
	OtherMethod = "_OTHER"
	// UnknownService is the service name of processes without one, as in
	// the OpenTelemetry SDKs.
	UnknownService = "unknown_service"
)

// KnownMethod returns the method itself when it is one of the nine of RFC
// 9110 and RFC 5789, OtherMethod otherwise. Methods are case-sensitive, so
// "get" is OtherMethod, as the conventions say. The result is always a
// constant, never the (possibly borrowed) argument.
func KnownMethod(method string) string {
	switch method {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "CONNECT":
		return "CONNECT"
	case "OPTIONS":
		return "OPTIONS"
	case "TRACE":
		return "TRACE"
	case "PATCH":
		return "PATCH"
	}
	return OtherMethod
}

// ServerAddress is the server.address of a client request: the Host
// header's host (see HostName), else the peer's IP address.
func (h *HTTP) ServerAddress() string {
	if host := h.HostName(); host != "" {
		return host
	}
	return unmapped(h.Peer.Addr)
}

// unmapped returns an IPv4-mapped IPv6 address (::ffff:a.b.c.d, as
// dual-stack sockets report IPv4 peers) as the IPv4 address a user would
// write, and any other address as it is.
func unmapped(addr string) string {
	if a, ok := strings.CutPrefix(addr, "::ffff:"); ok && strings.IndexByte(a, '.') > 0 {
		return a
	}
	return addr
}

// MaxHostLen bounds HostName: the longest DNS name.
const MaxHostLen = 253

// HostName returns the host the request's Host header names, fit for the
// server.address attribute and the server_address label, or "" when there
// is none. The header is the client's to write, so only a host is taken
// from it: user info ("user:password@", which some clients send) and the
// port are dropped, the brackets of an IPv6 literal too, and what remains
// must be an IP address, or a DNS name of at most MaxHostLen bytes in
// labels of at most 63 letters, digits, '-' and '_' whose last is not all
// digits. It is lower-cased, without a final dot. Anything else, such as
// a header holding spaces, quotes, a path or a query, is "".
//
// It allocates only to lower-case a name that has capitals.
func (h *HTTP) HostName() string {
	return hostName(h.Host)
}

func hostName(header string) string {
	if i := strings.LastIndexByte(header, '@'); i >= 0 {
		header = header[i+1:]
	}
	host := hostOnly(header)
	if host == "" || len(host) > MaxHostLen+1 {
		return ""
	}
	if strings.IndexByte(host, ':') >= 0 {
		// An IPv6 literal; zones (fe80::1%eth0) name an interface of the
		// client's, not a server.
		if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
			return ""
		}
		return unmapped(lower(host))
	}
	host = strings.TrimSuffix(host, ".")
	if !isDNSName(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			return ""
		}
	}
	return lower(host)
}

// isDNSName reports whether s is a host name as hostName accepts it.
func isDNSName(s string) bool {
	if s == "" || len(s) > MaxHostLen {
		return false
	}
	label, digits := 0, true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label, digits = 0, true
			continue
		case '0' <= c && c <= '9':
		case 'a' <= c|0x20 && c|0x20 <= 'z', c == '-', c == '_':
			digits = false
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	// A last label of digits is an IPv4 address (checked by the caller)
	// or junk: no top-level domain is numeric.
	return label > 0 && !digits
}

// lower returns s in lower case, allocating only when it has capitals.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// hostOnly returns the host of a Host header value: without the port, and
// without the brackets of an IPv6 literal.
func hostOnly(host string) string {
	if rest, ok := strings.CutPrefix(host, "["); ok {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			return rest[:i]
		}
		return host
	}
	// One colon separates the port; more are an IPv6 address without
	// brackets, which is malformed but unambiguous.
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i+1:], ':') < 0 {
		return host[:i]
	}
	return host
}
