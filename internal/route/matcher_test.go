package route

import (
	"fmt"
	"strings"
	"testing"
)

func TestMatcherRoute(t *testing.T) {
	m, err := NewMatcher([]string{
		"/",
		"/users/{id}",
		"/users/{id}/orders/:order",
		"/users/me", // shadowed by /users/{id}: first match wins
		"/static/*",
		"/api/{version}/items/{item}",
		"/files/",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
		matched    bool
	}{
		{"/", "/", true},
		{"", "/", true},
		{"/?q=1", "/", true},
		{"/users/42", "/users/{id}", true},
		{"/users/42/", "/users/{id}", true},
		{"//users//42", "/users/{id}", true},
		{"/users/42?x=1", "/users/{id}", true},
		{"/users/42;jsessionid=ABC", "/users/{id}", true},
		{"http://example.com/users/42", "/users/{id}", true},
		{"/users/me", "/users/{id}", true},
		{"/users/42/orders/7", "/users/{id}/orders/:order", true},
		{"/users/42/orders", "/users/{id}/orders", false},
		{"/users", "/users", false},
		{"/Users/42", "/Users/{id}", false}, // literals are case-sensitive
		{"/static", "/static/*", true},      // * matches no segment too
		{"/static/", "/static/*", true},
		{"/static/css/app.3f2a9c1d.css", "/static/*", true},
		{"/static" + strings.Repeat("/x", 100), "/static/*", true},
		{"/api/v1/items/550e8400-e29b-41d4-a716-446655440000", "/api/{version}/items/{item}", true},
		{"/api/v1/items", "/api/v1/items", false},
		{"/files", "/files/", true},
		{"/files/1", "/files/{id}", false},
		{"/other/123", "/other/{id}", false},
		{"/a" + strings.Repeat("/1", 40), "/a/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/*", false},
	}
	for _, tt := range tests {
		got, ok := m.Match(tt.path)
		if ok != tt.matched || (ok && got != tt.want) {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.matched)
		}
		if got := m.Route(tt.path); got != tt.want {
			t.Errorf("Route(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestMatcherLongPattern(t *testing.T) {
	long := strings.Repeat("/x", MaxPatternSegments)
	m, err := NewMatcher([]string{long, long + "/*"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Match(long); got != long {
		t.Errorf("Match(%d segments) = %q, want the exact pattern", MaxPatternSegments, got)
	}
	if got, _ := m.Match(long + "/y/z"); got != long+"/*" {
		t.Errorf("Match(%d segments) = %q, want the * pattern", MaxPatternSegments+2, got)
	}
	if _, err := NewMatcher([]string{long + "/x"}); err == nil {
		t.Errorf("NewMatcher accepted %d segments", MaxPatternSegments+1)
	}
}

func TestNilAndEmptyMatcher(t *testing.T) {
	var nilM *Matcher
	empty, err := NewMatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Matcher{nilM, empty} {
		if _, ok := m.Match("/"); ok {
			t.Errorf("%v matched", m)
		}
		if got := m.Route("/users/1"); got != "/users/{id}" {
			t.Errorf("Route = %q, want the heuristic", got)
		}
	}
}

func TestNewMatcherErrors(t *testing.T) {
	tests := []struct {
		pattern, wantErr string
	}{
		{"", "empty pattern"},
		{"users/{id}", "must start with '/'"},
		{"/a//b", "empty segment"},
		{"/a/*/b", "'*' must be the whole last segment"},
		{"/files/*.json", "'*' must be the whole last segment"},
		{"/a/{}", "{name}"},
		{"/a/{id", "{name}"},
		{"/a/id}", "{name}"},
		{"/a/x{id}", "{name}"},
		{"/a/{{id}}", "{name}"},
		{"/a/:", "needs a name"},
		{"/a?b=1", "'?', '#' and ';'"},
		{"/a;b", "'?', '#' and ';'"},
		{"/a/\x01", "control character"},
		{"/\xff", "UTF-8"},
	}
	for _, tt := range tests {
		_, err := NewMatcher([]string{"/ok", tt.pattern})
		if err == nil {
			t.Errorf("NewMatcher(%q) succeeded", tt.pattern)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, fmt.Sprintf("%q", tt.pattern)) || !strings.Contains(msg, tt.wantErr) {
			t.Errorf("NewMatcher(%q) error %q: want it to quote the pattern and say %q", tt.pattern, msg, tt.wantErr)
		}
	}
}

func TestNewMatcherDuplicates(t *testing.T) {
	_, err := NewMatcher([]string{"/users/{id}", "/users/:user/", "/a/*", "/a/*", "/b/{x}", "/bad/{"})
	if err == nil {
		t.Fatal("NewMatcher accepted duplicate patterns")
	}
	// Every problem is reported at once, not one per attempt.
	for _, want := range []string{
		`"/users/:user/": matches the same paths as "/users/{id}"`,
		`"/a/*": matches the same paths as "/a/*"`,
		`"/bad/{"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m, err := NewMatcher(benchPatterns(20))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/svc19/users/42/orders/7?x=1", "/nomatch/1", "/static/a/b/c"} {
		if n := testing.AllocsPerRun(100, func() { m.Match(p) }); n != 0 {
			t.Errorf("Match(%q): %v allocs, want 0", p, n)
		}
	}
}

// benchPatterns returns n realistic patterns: a service prefix each, so that
// a late match has to reject the earlier ones.
func benchPatterns(n int) []string {
	ps := make([]string, 0, n+1)
	for i := range n {
		ps = append(ps, fmt.Sprintf("/svc%d/users/{id}/orders/{order}", i))
	}
	return append(ps, "/static/*")
}

func BenchmarkMatcherRoute(b *testing.B) {
	m, err := NewMatcher(benchPatterns(20))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, path string }{
		{"first", "/svc0/users/42/orders/7"},
		{"last", "/svc19/users/42/orders/7"},
		{"wildcard", "/static/css/app.css"},
		{"miss-unchanged", "/api/v1/users/me"},
		{"miss-collapsed", "/api/v1/users/42"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = m.Route(bc.path)
			}
		})
	}
}
