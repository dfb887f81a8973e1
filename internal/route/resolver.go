package route

import "github.com/vigil-dev/vigil/internal/event"

// Resolver is the route stage of the HTTP pipeline: it names the route of
// every http event before any sink sees it, so the event stream, the spans
// and the http_route label agree. It runs on the pipeline goroutine and is
// not safe for concurrent use.
type Resolver struct {
	matcher *Matcher
	max     int
	// interned holds collapsed routes, so that a path Collapse rewrites
	// costs no allocation once its route has been seen. Cleared when it
	// reaches max entries, which bounds it under a flood of distinct
	// routes at the price of allocating again.
	interned map[string]string
}

// NewResolver names routes by the first of m's patterns that matches (m
// may be nil), else by Collapse, and keeps at most max collapsed routes
// interned.
func NewResolver(m *Matcher, max int) *Resolver {
	return &Resolver{matcher: m, max: max, interned: make(map[string]string)}
}

// bufLen fits every collapsed path that is not pathological; longer ones
// cost an allocation.
const bufLen = 256

// Resolve fills ev.HTTP.Route, when empty, with the first configured
// pattern matching the path, else the collapsed path. A route set upstream
// is kept. Other events are left alone.
func (r *Resolver) Resolve(ev *event.Event) {
	if ev == nil || ev.Kind != event.KindHTTP || ev.HTTP == nil || ev.HTTP.Route != "" {
		return
	}
	h := ev.HTTP
	if p, ok := r.matcher.Match(h.Path); ok {
		h.Route = p
		return
	}
	var buf [bufLen]byte
	b := AppendCollapse(buf[:0], h.Path)
	if string(b) == h.Path {
		h.Route = h.Path
		return
	}
	h.Route = r.intern(b)
}

// intern returns b as a string, the same one every time while it stays in
// the table; the lookup with string(b) does not allocate.
func (r *Resolver) intern(b []byte) string {
	if s, ok := r.interned[string(b)]; ok {
		return s
	}
	if len(r.interned) >= r.max {
		clear(r.interned)
	}
	s := string(b)
	r.interned[s] = s
	return s
}
