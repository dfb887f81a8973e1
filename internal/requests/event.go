package requests

import (
	"strings"

	"github.com/vigil-dev/vigil/internal/event"
)

// ToEvent fills out, replacing its contents, with the exchange's http event
// fields. Route and trace context are left empty for later stages.
func ToEvent(x *Exchange, out *event.HTTP) {
	*out = event.HTTP{
		Method:            x.Method,
		Path:              x.Path,
		Status:            x.Status,
		Host:              x.Host,
		RequestBodyBytes:  x.ReqBodyBytes,
		ResponseBodyBytes: x.RespBodyBytes,
	}
	if x.EndNs > x.StartNs {
		out.DurationNs = x.EndNs - x.StartNs
	}
	if x.Conn != nil {
		out.Side = x.Conn.Side.String()
		out.Local, out.Peer = x.Conn.Local, x.Conn.Peer
	}
}

// splitTarget returns the path of a request target, without query string,
// fragment or ";parameters" (which may hold secrets, such as
// ;jsessionid=..., and are never exported), and the authority of an
// absolute-form target, without userinfo.
func splitTarget(target string) (path, authority string) {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	rest, ok := cutHTTPScheme(target)
	if !ok {
		return dropParams(target), ""
	}
	authority, path = rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], dropParams(rest[i:])
	}
	return path, withoutUserinfo(authority)
}

// withoutUserinfo returns an authority (host[:port]) without the
// "user:password@" some clients put before it, in a target or a Host header.
func withoutUserinfo(authority string) string {
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		return authority[i+1:]
	}
	return authority
}

// dropParams removes the ";parameters" of each segment of path (/a;x/b;y=1
// is /a/b), as the route does. It allocates only when there are some.
func dropParams(path string) string {
	i := strings.IndexByte(path, ';')
	if i < 0 {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for i >= 0 {
		b.WriteString(path[:i])
		path = path[i:]
		if j := strings.IndexByte(path, '/'); j >= 0 {
			path = path[j:]
		} else {
			path = ""
		}
		i = strings.IndexByte(path, ';')
	}
	b.WriteString(path)
	return b.String()
}

// cutHTTPScheme strips a leading "http://" or "https://", in any case.
func cutHTTPScheme(s string) (string, bool) {
	for _, scheme := range [...]string{"http://", "https://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return s[len(scheme):], true
		}
	}
	return s, false
}
