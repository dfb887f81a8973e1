package event

import "strings"

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

// ServerAddress is the server.address of a client request: the Host header
// without its port, else the peer's IP address.
func (h *HTTP) ServerAddress() string {
	if host := hostOnly(h.Host); host != "" {
		return host
	}
	// Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; use the
	// address a user would write.
	if a, ok := strings.CutPrefix(h.Peer.Addr, "::ffff:"); ok && strings.IndexByte(a, '.') > 0 {
		return a
	}
	return h.Peer.Addr
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
