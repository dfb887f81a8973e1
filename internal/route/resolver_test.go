package route

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/event"
)

func httpEvent(path, preset string) *event.Event {
	return &event.Event{Kind: event.KindHTTP, HTTP: &event.HTTP{Side: event.SideServer, Path: path, Route: preset}}
}

func TestResolver(t *testing.T) {
	m, err := NewMatcher([]string{"/api/{version}/items/{item}"})
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(m, 100)
	for _, c := range []struct{ path, preset, want string }{
		{"/api/v1/items/abc", "", "/api/{version}/items/{item}"},
		{"/users/42/orders/9f2c4e1a", "", "/users/{id}/orders/{id}"},
		{"/healthz", "", "/healthz"},
		{"", "", "/"},
		{"/users/42", "/users/:id", "/users/:id"}, // a route set upstream is kept
	} {
		ev := httpEvent(c.path, c.preset)
		r.Resolve(ev)
		if ev.HTTP.Route != c.want {
			t.Errorf("Resolve(%q, preset %q) = %q, want %q", c.path, c.preset, ev.HTTP.Route, c.want)
		}
	}
	// Other events, and http events without their fields, are left alone.
	r.Resolve(nil)
	r.Resolve(&event.Event{Kind: event.KindHTTP})
	r.Resolve(&event.Event{Kind: event.KindExit, Exit: &event.Exit{}})
}

// A collapsed route is one string while it is interned, and the table is
// bounded.
func TestResolverInternsBounded(t *testing.T) {
	r := NewResolver(nil, 3)
	a, b := httpEvent("/users/1", ""), httpEvent("/users/2", "")
	r.Resolve(a)
	r.Resolve(b)
	if a.HTTP.Route != "/users/{id}" || unsafe.StringData(a.HTTP.Route) != unsafe.StringData(b.HTTP.Route) {
		t.Errorf("routes %q and %q are not one interned string", a.HTTP.Route, b.HTTP.Route)
	}
	for i := range 10 {
		r.Resolve(httpEvent(fmt.Sprintf("/r%d/42", i), ""))
		if len(r.interned) > 3 {
			t.Fatalf("%d routes interned, cap 3", len(r.interned))
		}
	}
}
