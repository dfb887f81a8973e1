package route

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCollapse(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// The examples the metrics docs promise.
		{"/users/123/orders/9f2c4e1a", "/users/{id}/orders/{id}"},
		{"/", "/"},
		{"", "/"},
		{"/api/v1/items/550e8400-e29b-41d4-a716-446655440000", "/api/v1/items/{id}"},

		// The rest of the examples in docs/metrics.md.
		{"/api/v1/users/me", "/api/v1/users/me"},
		{"/api/2fa", "/api/2fa"},
		{"/v2beta1/s3", "/v2beta1/s3"},
		{"/reports/2024-01-15.csv", "/reports/{id}.csv"},
		{"/api/v1/namespaces/default/pods/coredns-5d78c9869d-x2x4z", "/api/v1/namespaces/default/pods/{id}"},
		{"/users/jane@example.com", "/users/{id}"},
		{"/login;jsessionid=1A2B3C4D?next=/home", "/login"},
		{"//users//42/", "/users/{id}/"},
		{"http://example.com/users/7", "/users/{id}"},
		{"/a/b/c/d/e/f/g/h/i/j/k/l", "/a/b/c/d/e/f/g/h/i/j/*"},

		// Words stay, including short ones with digits.
		{"/healthz", "/healthz"},
		{"/api/v1/users/me", "/api/v1/users/me"},
		{"/api/v2beta1/2fa/s3/oauth2/ipv4", "/api/v2beta1/2fa/s3/oauth2/ipv4"},
		{"/deadbeef/facade/cafe", "/deadbeef/facade/cafe"},
		{"/v1.2.3/docs", "/v1.2.3/docs"},
		{"/.well-known/openid-configuration", "/.well-known/openid-configuration"},
		// Names of 8 to 15 letters and digits: versions, algorithms,
		// formats, words with a counter.
		{"/apis/batch/v1alpha1/jobs", "/apis/batch/v1alpha1/jobs"},
		{"/v1beta12/v2alpha1", "/v1beta12/v2alpha1"},
		{"/sha256sum/base64url/x509certs", "/sha256sum/base64url/x509certs"},
		{"/oauth2callback/oauth2token/auth0callback", "/oauth2callback/oauth2token/auth0callback"},
		{"/OAuth2Callback/iPhone12/Windows10/DEBIAN12", "/OAuth2Callback/iPhone12/Windows10/DEBIAN12"},
		{"/debian12/windows10/chapter12", "/debian12/windows10/chapter12"},
		{"/3dsecure/2factor/1password/360degrees", "/3dsecure/2factor/1password/360degrees"},
		{"/verify2fa/setup2fa/disable2fa", "/verify2fa/setup2fa/disable2fa"},
		{"/html5player/mp4video/h264stream/http2push", "/html5player/mp4video/h264stream/http2push"},
		{"/s3upload/ec2instances/k8sclusters/ipv4only", "/s3upload/ec2instances/k8sclusters/ipv4only"},
		{"/secp256k1/argon2id/crc32check/page2of3", "/secp256k1/argon2id/crc32check/page2of3"},
		{"/api/getUserV2/listItemsV2/getUser2", "/api/getUserV2/listItemsV2/getUser2"},
		{"/season2episode3/top100movies", "/season2episode3/top100movies"},
		{"/reset/password", "/reset/password"}, // no digits
		{"/reset/XkQpTzLm", "/reset/XkQpTzLm"}, // no digits: a word as far as a heuristic can tell
		{"/v1/html5/utf8/x509/sha256/mp4/h264", "/v1/html5/utf8/x509/sha256/mp4/h264"},
		{"/über/straße", "/über/straße"},
		{"/a/*/b", "/a/*/b"},

		// Identifiers.
		{"/0", "/{id}"},
		{"/users/18446744073709551616000", "/users/{id}"},
		{"/items/550E8400-E29B-41D4-A716-446655440000", "/items/{id}"},
		{"/commits/3f2a9c1d4b5e6f708192a3b4c5d6e7f809112233", "/commits/{id}"},
		{"/obj/12ab34cd", "/obj/{id}"},
		{"/obj/12ab34c", "/obj/12ab34c"}, // 7 hex digits: too short to tell
		{"/day/2024-01-15", "/day/{id}"},
		{"/hosts/10.0.0.1", "/hosts/{id}"},
		{"/price/1,000.50", "/price/{id}"},
		{"/tel/+15551234567", "/tel/{id}"},
		{"/at/12:30", "/at/{id}"},
		{"/ulid/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/ulid/{id}"},
		{"/pods/coredns-5d78c9869d-x2x4z", "/pods/{id}"},
		// Short tokens: 8 to 15 letters and digits not shaped like a name.
		{"/reset/secret123", "/reset/{id}"},  // digits at the end: more than two
		{"/s/a8Fk2pQz", "/s/{id}"},           // five runs
		{"/invite/FaM6Rgx4", "/invite/{id}"}, // a capital ends a run of letters
		{"/s/k3j9x2mq", "/s/{id}"},           // six runs
		{"/t/gzN1kIrm", "/t/{id}"},           // camel-case but for gzN
		{"/t/0dalu3fi", "/t/{id}"},           // D L D L
		{"/t/1yGy3jzNwM", "/t/{id}"},         // zNwM
		{"/users/user4567/orders/order123", "/users/{id}/orders/{id}"},
		{"/keys/ISO27001/curve25519", "/keys/{id}/{id}"}, // the price of the rule
		{"/reset/secret123.json", "/reset/{id}.json"},
		{"/reset/dGhpcyBpcyBhIHNlY3JldDE", "/reset/{id}"},
		{"/blog/" + strings.Repeat("a-long-slug-", 6), "/blog/{id}"},
		{"/users/jane@example.com/posts", "/users/{id}/posts"},
		{"/users/jane%40example.com", "/users/{id}"},
		{"/@jane", "/{id}"},
		{"/bad/\xff\xfe", "/bad/{id}"},
		{"/ctl/a\x01b", "/ctl/{id}"},

		// File extensions survive an identifier.
		{"/images/12345.jpg", "/images/{id}.jpg"},
		{"/exports/2024-01-15.csv", "/exports/{id}.csv"},
		{"/blobs/3f2a9c1d.tar", "/blobs/{id}.tar"},
		{"/feeds/1.json", "/feeds/{id}.json"},
		{"/static/app.js", "/static/app.js"},
		{"/v1.json", "/v1.json"},

		// Clean-up of what the wire may hold.
		{"/users/1?token=secret", "/users/{id}"},
		{"/users/1#frag", "/users/{id}"},
		{"/search?q=/a/1", "/search"},
		{"?x", "/"},
		{"/login;jsessionid=1A2B3C4D5E6F7A8B9C0D", "/login"},
		{"/a;x/b;y=1/", "/a/b/"},
		{"/;jsessionid=1", "/"},
		{"//users//42///", "/users/{id}/"},
		{"///", "/"},
		{"http://example.com/users/7?x=1", "/users/{id}"},
		{"https://example.com:8443", "/"},
		{"users/7", "/users/{id}"},
		{"*", "/*"},
		{"/redirect/http://evil/1", "/redirect/http:/evil/{id}"},

		// Trailing slashes are kept.
		{"/users/", "/users/"},
		{"/users/42/", "/users/{id}/"},

		// Segment cap.
		{"/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/i/j"},
		{"/a/b/c/d/e/f/g/h/i/j/", "/a/b/c/d/e/f/g/h/i/j/"},
		{"/a/b/c/d/e/f/g/h/i/j/k", "/a/b/c/d/e/f/g/h/i/j/*"},
		{"/1/2/3/4/5/6/7/8/9/10/11/12/", "/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/{id}/*"},
		{"/a/b/c/d/e/f/g/h/i/j/;x", "/a/b/c/d/e/f/g/h/i/j"},
	}
	for _, tt := range tests {
		got := Collapse(tt.in)
		if got != tt.want {
			t.Errorf("Collapse(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := Collapse(got); again != got {
			t.Errorf("Collapse(%q) = %q is not a fixed point: %q", tt.in, got, again)
		}
	}
}

func TestCollapseKeepsUnchangedPathWithoutAllocating(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/users/me", "/static/app.js"} {
		if n := testing.AllocsPerRun(100, func() { _ = Collapse(p) }); n != 0 {
			t.Errorf("Collapse(%q): %v allocs, want 0", p, n)
		}
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = AppendCollapse(buf[:0], "/users/123/orders/9f2c4e1a") }); n != 0 {
		t.Errorf("AppendCollapse into a large enough buffer: %v allocs, want 0", n)
	}
}

func TestCollapseBounds(t *testing.T) {
	long := "/" + strings.Repeat("x", MaxSegmentLen) + "/" + strings.Repeat("y", MaxSegmentLen+1)
	if got, want := Collapse(long), "/"+strings.Repeat("x", MaxSegmentLen)+"/{id}"; got != want {
		t.Errorf("Collapse(long) = %q, want %q", got, want)
	}
	worst := strings.Repeat("/1", 20)
	if got := Collapse(worst); len(got) > len(worst)+MaxGrowth {
		t.Errorf("Collapse(%q) = %q: %d bytes, more than input+%d", worst, got, len(got), MaxGrowth)
	}
	widest := strings.Repeat("/"+strings.Repeat("w", MaxSegmentLen), 20)
	if got, max := len(Collapse(widest)), MaxSegments*(MaxSegmentLen+1)+2; got != max {
		t.Errorf("len(Collapse(widest)) = %d, want the documented bound %d", got, max)
	}
}

func FuzzCollapse(f *testing.F) {
	for _, s := range []string{
		"", "/", "/users/123", "/a/b/c/d/e/f/g/h/i/j/k/l", "http://h/x?y", "//a//b//",
		"/x;y=1/", "/12345.jpg", "*", "/\xff", "/a@b", "/550e8400-e29b-41d4-a716-446655440000",
	} {
		f.Add(s)
	}
	m, err := NewMatcher([]string{"/users/{id}", "/api/:v/items/{item}", "/static/*", "/"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if r := m.Route(in); r == "" || r[0] != '/' {
			t.Fatalf("Route(%q) = %q: does not start with '/'", in, r)
		}
		out := Collapse(in)
		if out == "" || out[0] != '/' {
			t.Fatalf("Collapse(%q) = %q: does not start with '/'", in, out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("Collapse(%q) = %q: not valid UTF-8", in, out)
		}
		if len(out) > len(in)+MaxGrowth {
			t.Fatalf("Collapse(%q) = %q: %d bytes, input %d + %d", in, out, len(out), len(in), MaxGrowth)
		}
		if max := MaxSegments*(MaxSegmentLen+1) + 2; len(out) > max {
			t.Fatalf("Collapse(%q) = %q: %d bytes, more than %d", in, out, len(out), max)
		}
		if strings.ContainsAny(out, "?#;") {
			t.Fatalf("Collapse(%q) = %q: holds a query, fragment or param", in, out)
		}
		if again := Collapse(out); again != out {
			t.Fatalf("not idempotent: Collapse(%q) = %q, Collapse(%q) = %q", in, out, out, again)
		}
		if got := string(AppendCollapse([]byte("prefix"), in)); got != "prefix"+out {
			t.Fatalf("AppendCollapse(%q) = %q, want prefix+%q", in, got, out)
		}
	})
}

func BenchmarkCollapse(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"unchanged", "/api/v1/users/me"},
		{"ids", "/api/v1/users/123/orders/550e8400-e29b-41d4-a716-446655440000"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Collapse(bc.path)
			}
		})
		b.Run(bc.name+"/append", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 256)
			for b.Loop() {
				buf = AppendCollapse(buf[:0], bc.path)
			}
		})
	}
}
