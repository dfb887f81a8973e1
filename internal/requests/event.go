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

// splitTarget returns the path of a request target, without query string or
// fragment (which may hold secrets and are never exported), and the
// authority of an absolute-form target, without userinfo.
func splitTarget(target string) (path, authority string) {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	rest, ok := cutHTTPScheme(target)
	if !ok {
		return target, ""
	}
	authority, path = rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	return path, authority
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
