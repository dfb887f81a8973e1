package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/route"
)

// serverEvent and clientEvent are http events as the pipeline hands them
// to its sinks: with their route named by the route stage.
func serverEvent(service, method, path string, status int, dur time.Duration, req, resp uint64) *event.Event {
	return routed(&event.Event{
		Kind:    event.KindHTTP,
		Process: event.Process{Service: service},
		HTTP: &event.HTTP{
			Side: event.SideServer, Method: method, Path: path, Status: status,
			DurationNs: uint64(dur), RequestBodyBytes: req, ResponseBodyBytes: resp,
			Local: event.Endpoint{Addr: "10.0.0.1", Port: 8080},
			Peer:  event.Endpoint{Addr: "10.0.0.2", Port: 40000},
		},
	})
}

func clientEvent(service, host, peer string, port uint16) *event.Event {
	return routed(&event.Event{
		Kind:    event.KindHTTP,
		Process: event.Process{Service: service},
		HTTP: &event.HTTP{
			Side: event.SideClient, Method: "GET", Path: "/v1/items/42", Status: 200,
			DurationNs: uint64(30 * time.Millisecond), Host: host,
			Local: event.Endpoint{Addr: "10.0.0.2", Port: 40000},
			Peer:  event.Endpoint{Addr: peer, Port: port},
		},
	})
}

func routed(ev *event.Event) *event.Event {
	route.NewResolver(nil, DefaultMaxSeries).Resolve(ev)
	return ev
}

// exposition registers c in a pedantic registry, which also checks that
// every collected metric was described, and returns the text format lines
// of the named metric families.
func exposition(t *testing.T, c prometheus.Collector, families ...string) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	var out []string
	for line := range strings.Lines(string(body)) {
		for _, f := range families {
			name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
			if strings.HasPrefix(name, f+" ") || strings.HasPrefix(name, f+"_bucket{") ||
				strings.HasPrefix(name, f+"_sum") || strings.HasPrefix(name, f+"_count") || strings.HasPrefix(name, f+"{") {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "")
}

type histSample struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64 // cumulative, +Inf omitted
}

// gather returns the samples of one metric family by label set, rendered
// as sorted name="value" pairs.
func gather(t *testing.T, c prometheus.Collector, family string) map[string]histSample {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]histSample)
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			h := m.GetHistogram()
			s := histSample{count: h.GetSampleCount(), sum: h.GetSampleSum(), buckets: map[float64]uint64{}}
			for _, b := range h.GetBucket() {
				s.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			out[strings.Join(labels, ",")] = s
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func TestServerDurationExposition(t *testing.T) {
	m := NewHTTP(HTTPOptions{})
	// Binary fractions, so that the sum prints exactly; three sit on a
	// bucket bound, which is inclusive.
	for _, d := range []time.Duration{time.Second / 256, 250 * time.Millisecond, 500 * time.Millisecond, 2500 * time.Millisecond, 11 * time.Second} {
		m.Observe(serverEvent("api", "GET", "/users/123", 200, d, 0, 512))
	}
	want := `# HELP http_server_request_duration_seconds Duration of HTTP server requests.
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.005"} 1
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.01"} 1
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.025"} 1
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.05"} 1
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.075"} 1
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.1"} 1
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.25"} 2
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.5"} 3
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="0.75"} 3
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="1"} 3
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="2.5"} 4
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="5"} 4
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="7.5"} 4
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="10"} 4
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api",le="+Inf"} 5
http_server_request_duration_seconds_sum{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api"} 14.25390625
http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",server_port="8080",service_name="api"} 5
`
	if got := exposition(t, m, "http_server_request_duration_seconds"); got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
}

func TestBodySizes(t *testing.T) {
	m := NewHTTP(HTTPOptions{})
	m.Observe(serverEvent("api", "POST", "/upload", 201, time.Millisecond, 0, 32))
	m.Observe(serverEvent("api", "POST", "/upload", 201, time.Millisecond, 100<<10, 33))
	m.Observe(serverEvent("api", "POST", "/upload", 201, time.Millisecond, 9<<20, 2<<10))
	labels := `http_request_method="POST",http_response_status_code="201",http_route="/upload",server_port="8080",service_name="api"`

	req := gather(t, m, "http_server_request_body_size_bytes")[labels]
	wantReq := histSample{count: 3, sum: 0 + 100<<10 + 9<<20, buckets: map[float64]uint64{
		0: 1, 32: 1, 128: 1, 512: 1, 2 << 10: 1, 8 << 10: 1, 32 << 10: 1, 128 << 10: 2, 512 << 10: 2, 2 << 20: 2, 8 << 20: 2,
	}}
	if fmt.Sprint(req) != fmt.Sprint(wantReq) {
		t.Errorf("request body sizes:\n got %v\nwant %v", req, wantReq)
	}
	resp := gather(t, m, "http_server_response_body_size_bytes")[labels]
	wantResp := histSample{count: 3, sum: 32 + 33 + 2<<10, buckets: map[float64]uint64{
		0: 0, 32: 1, 128: 2, 512: 2, 2 << 10: 3, 8 << 10: 3, 32 << 10: 3, 128 << 10: 3, 512 << 10: 3, 2 << 20: 3, 8 << 20: 3,
	}}
	if fmt.Sprint(resp) != fmt.Sprint(wantResp) {
		t.Errorf("response body sizes:\n got %v\nwant %v", resp, wantResp)
	}
	if got := gather(t, m, "http_client_request_body_size_bytes"); len(got) != 0 {
		t.Errorf("client body sizes from server events: %v", got)
	}
}

func TestBuckets(t *testing.T) {
	want := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	if got := DurationBuckets(); !slices.Equal(got, want) {
		t.Errorf("DurationBuckets() = %v, want the contract's %v", got, want)
	}
	b := DurationBuckets()
	b[0] = 42
	if DurationBuckets()[0] != 0.005 {
		t.Error("DurationBuckets shares its slice")
	}
	for _, bs := range [][]float64{DurationBuckets(), BodySizeBuckets()} {
		if !slices.IsSorted(bs) || len(slices.Compact(slices.Clone(bs))) != len(bs) {
			t.Errorf("buckets %v not strictly increasing", bs)
		}
	}
}

func TestClientLabels(t *testing.T) {
	m := NewHTTP(HTTPOptions{})
	m.Observe(clientEvent("web", "api.example.com:8443", "10.0.0.9", 8443))
	m.Observe(clientEvent("web", "api.example.com", "10.0.0.9", 443))
	m.Observe(clientEvent("web", "[2001:db8::1]:8080", "2001:db8::1", 8080))
	m.Observe(clientEvent("web", "", "::ffff:10.0.0.7", 80))
	m.Observe(clientEvent("web", "", "2001:db8::2", 80))
	m.Observe(clientEvent("", "", "10.0.0.8", 80))
	// The Host header is the client's: user info is dropped, names are
	// lower-cased, and what is not a host gives way to the peer address.
	m.Observe(clientEvent("web", "alice:hunter2@API.Example.com:8443", "10.0.0.9", 8443))
	m.Observe(clientEvent("web", "evil\"} junk/path?token=t", "10.0.0.3", 80))
	got := keys(gather(t, m, "http_client_request_duration_seconds"))
	want := []string{
		`http_request_method="GET",http_response_status_code="200",server_address="10.0.0.3",server_port="80",service_name="web"`,
		`http_request_method="GET",http_response_status_code="200",server_address="10.0.0.7",server_port="80",service_name="web"`,
		`http_request_method="GET",http_response_status_code="200",server_address="10.0.0.8",server_port="80",service_name="unknown_service"`,
		`http_request_method="GET",http_response_status_code="200",server_address="2001:db8::1",server_port="8080",service_name="web"`,
		`http_request_method="GET",http_response_status_code="200",server_address="2001:db8::2",server_port="80",service_name="web"`,
		`http_request_method="GET",http_response_status_code="200",server_address="api.example.com",server_port="443",service_name="web"`,
		`http_request_method="GET",http_response_status_code="200",server_address="api.example.com",server_port="8443",service_name="web"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("client label sets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := gather(t, m, "http_server_request_duration_seconds"); len(got) != 0 {
		t.Errorf("server series from client events: %v", keys(got))
	}
}

func TestMethodAndStatus(t *testing.T) {
	m := NewHTTP(HTTPOptions{})
	for _, ev := range []*event.Event{
		serverEvent("api", "get", "/", 200, time.Millisecond, 0, 0),
		serverEvent("api", "PROPFIND", "/", 200, time.Millisecond, 0, 0),
		serverEvent("api", "GET", "/", 0, time.Millisecond, 0, 0),
		serverEvent("api", "GET", "/", 599, time.Millisecond, 0, 0),
		serverEvent("api", "GET", "/", 600, time.Millisecond, 0, 0),
		serverEvent("api", "GET", "/", 99, time.Millisecond, 0, 0),
		serverEvent("api", "GET", "/", -1, time.Millisecond, 0, 0),
	} {
		m.Observe(ev)
	}
	got := gather(t, m, "http_server_request_duration_seconds")
	counts := map[string]uint64{}
	for k, s := range got {
		counts[k] = s.count
	}
	want := map[string]uint64{
		`http_request_method="GET",http_response_status_code="0",http_route="/",server_port="8080",service_name="api"`:      1,
		`http_request_method="GET",http_response_status_code="599",http_route="/",server_port="8080",service_name="api"`:    1,
		`http_request_method="GET",http_response_status_code="_OTHER",http_route="/",server_port="8080",service_name="api"`: 3,
		`http_request_method="_OTHER",http_response_status_code="200",http_route="/",server_port="8080",service_name="api"`: 2,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts by label set:\n got %v\nwant %v", counts, want)
	}
}

func TestRoutes(t *testing.T) {
	matcher, err := route.NewMatcher([]string{"/api/{version}/items/{item}", "/static/*"})
	if err != nil {
		t.Fatal(err)
	}
	res := route.NewResolver(matcher, DefaultMaxSeries)
	m := NewHTTP(HTTPOptions{})
	tests := []struct {
		path, preset, want string
	}{
		{"/api/v1/items/abc", "", "/api/{version}/items/{item}"},
		{"/static/css/site.css", "", "/static/*"},
		{"/users/42/orders/9f2c4e1a", "", "/users/{id}/orders/{id}"},
		{"/healthz?verbose=1", "", "/healthz"},
		{"/healthz", "", "/healthz"},
		{"", "", "/"},
		{"/users/42", "/users/:id", "/users/:id"}, // a route set upstream is kept
	}
	for _, tt := range tests {
		ev := serverEvent("api", "GET", tt.path, 200, time.Millisecond, 0, 0)
		ev.HTTP.Route = tt.preset
		res.Resolve(ev)
		m.Observe(ev)
		if ev.HTTP.Route != tt.want {
			t.Errorf("Resolve(%q): Route = %q, want %q", tt.path, ev.HTTP.Route, tt.want)
		}
	}
	var routes []string
	for k := range gather(t, m, "http_server_request_duration_seconds") {
		_, r, _ := strings.Cut(k, `http_route="`)
		r, _, _ = strings.Cut(r, `"`)
		routes = append(routes, r)
	}
	slices.Sort(routes)
	want := []string{"/", "/api/{version}/items/{item}", "/healthz", "/static/*", "/users/:id", "/users/{id}/orders/{id}"}
	if !slices.Equal(routes, want) {
		t.Errorf("routes = %q, want %q", routes, want)
	}

	// Client events get a route for the event stream, but it is no label.
	ev := clientEvent("web", "h", "10.0.0.1", 80)
	res.Resolve(ev)
	m.Observe(ev)
	if ev.HTTP.Route != "/v1/items/{id}" {
		t.Errorf("client Route = %q", ev.HTTP.Route)
	}
}

func TestIgnoresOtherEvents(t *testing.T) {
	m := NewHTTP(HTTPOptions{})
	m.Observe(nil)
	m.Observe(&event.Event{Kind: event.KindExec, Exec: &event.Exec{}})
	m.Observe(&event.Event{Kind: event.KindHTTP}) // no HTTP fields
	ev := serverEvent("api", "GET", "/", 200, time.Millisecond, 0, 0)
	ev.HTTP.Side = "proxy"
	m.Observe(ev)
	route.NewResolver(nil, 10).Resolve(&event.Event{Kind: event.KindExit, Exit: &event.Exit{}})
	for _, f := range []string{"http_server_request_duration_seconds", "http_client_request_duration_seconds"} {
		if got := gather(t, m, f); len(got) != 0 {
			t.Errorf("%s: %v", f, keys(got))
		}
	}
}

func TestOverflow(t *testing.T) {
	m := NewHTTP(HTTPOptions{MaxSeries: 2})
	m.Observe(serverEvent("api", "GET", "/a", 200, time.Millisecond, 0, 0))
	m.Observe(serverEvent("api", "GET", "/b", 200, time.Millisecond, 0, 0))
	m.Observe(serverEvent("api", "GET", "/c", 200, time.Millisecond, 0, 0))
	m.Observe(serverEvent("api", "GET", "/d", 500, 2*time.Millisecond, 0, 0))
	m.Observe(serverEvent("api", "GET", "/a", 200, time.Millisecond, 0, 0)) // existing: not overflow
	m.Observe(clientEvent("web", "h", "10.0.0.1", 80))                      // own cap per metric

	counts := map[string]uint64{}
	for k, s := range gather(t, m, "http_server_request_duration_seconds") {
		counts[k] = s.count
	}
	want := map[string]uint64{
		`http_request_method="GET",http_response_status_code="200",http_route="/a",server_port="8080",service_name="api"`:                               2,
		`http_request_method="GET",http_response_status_code="200",http_route="/b",server_port="8080",service_name="api"`:                               1,
		`http_request_method="_overflow",http_response_status_code="_overflow",http_route="_overflow",server_port="_overflow",service_name="_overflow"`: 2,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts by label set:\n got %v\nwant %v", counts, want)
	}
	if got := gather(t, m, "http_server_response_body_size_bytes"); len(got) != 3 {
		t.Errorf("body size series: %v, want the same 3 label sets", keys(got))
	}
	wantCounter := `# HELP vigil_metrics_overflow_total Observations recorded in a metric's overflow series (every label "_overflow") because the metric had reached its cap on label sets.
# TYPE vigil_metrics_overflow_total counter
vigil_metrics_overflow_total{metric="http_client_request_body_size_bytes"} 0
vigil_metrics_overflow_total{metric="http_client_request_duration_seconds"} 0
vigil_metrics_overflow_total{metric="http_client_response_body_size_bytes"} 0
vigil_metrics_overflow_total{metric="http_server_request_body_size_bytes"} 2
vigil_metrics_overflow_total{metric="http_server_request_duration_seconds"} 2
vigil_metrics_overflow_total{metric="http_server_response_body_size_bytes"} 2
`
	if got := exposition(t, m, "vigil_metrics_overflow_total"); got != wantCounter {
		t.Errorf("overflow counter:\n%s\nwant:\n%s", got, wantCounter)
	}
}

func TestSeriesTTL(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := NewHTTP(HTTPOptions{MaxSeries: 2, SeriesTTL: time.Minute})
	m.now = func() time.Time { return now }
	routes := func() []string {
		var rs []string
		for k := range gather(t, m, "http_server_request_duration_seconds") {
			_, r, _ := strings.Cut(k, `http_route="`)
			r, _, _ = strings.Cut(r, `"`)
			rs = append(rs, r)
		}
		slices.Sort(rs)
		return rs
	}

	count := func(r string) uint64 {
		for k, s := range gather(t, m, "http_server_request_duration_seconds") {
			if strings.Contains(k, `http_route="`+r+`"`) {
				return s.count
			}
		}
		return 0
	}

	m.Observe(serverEvent("api", "GET", "/a", 200, time.Millisecond, 0, 0))
	m.Observe(serverEvent("api", "GET", "/b", 200, time.Millisecond, 0, 0))
	if got := routes(); !slices.Equal(got, []string{"/a", "/b"}) { // scrape at +0s
		t.Fatalf("at +0s: %q", got)
	}
	now = now.Add(50 * time.Second)
	m.Observe(serverEvent("api", "GET", "/b", 200, time.Millisecond, 0, 0))
	now = now.Add(20 * time.Second)
	if got := routes(); !slices.Equal(got, []string{"/b"}) {
		t.Fatalf("at +70s: %q, want /a expired after 70s idle", got)
	}
	// The freed slot takes a new series instead of overflowing.
	m.Observe(serverEvent("api", "GET", "/c", 200, time.Millisecond, 0, 0))
	if got := routes(); !slices.Equal(got, []string{"/b", "/c"}) {
		t.Fatalf("after /c: %q", got)
	}
	// Idleness is measured from the last scrape that found the series
	// observed: an observation between two scrapes keeps it, however far
	// apart they are, and expiry is at most one scrape interval late.
	now = now.Add(2 * time.Minute)
	m.Observe(serverEvent("api", "GET", "/c", 200, time.Millisecond, 0, 0))
	if got := routes(); !slices.Equal(got, []string{"/c"}) {
		t.Fatalf("at +190s: %q", got)
	}
	if got := count("/c"); got != 2 {
		t.Errorf("/c count %d, want 2", got)
	}
	// A series that comes back after expiring starts from zero.
	now = now.Add(time.Minute)
	if got := routes(); len(got) != 0 {
		t.Fatalf("at +250s: %q, want all expired", got)
	}
	m.Observe(serverEvent("api", "GET", "/c", 200, time.Millisecond, 0, 0))
	if got := count("/c"); got != 1 {
		t.Errorf("/c after expiry: count %d, want 1", got)
	}

	never := NewHTTP(HTTPOptions{SeriesTTL: -1})
	never.now = func() time.Time { return now }
	never.Observe(serverEvent("api", "GET", "/a", 200, time.Millisecond, 0, 0))
	now = now.Add(24 * time.Hour)
	if got := gather(t, never, "http_server_request_duration_seconds"); len(got) != 1 {
		t.Errorf("SeriesTTL < 0 expired a series: %v", keys(got))
	}
}

func TestInvalidUTF8Labels(t *testing.T) {
	m := NewHTTP(HTTPOptions{})
	for _, svc := range []string{"svc\xff", "svc\xfe"} {
		ev := clientEvent(svc, "h\xffst:80", "10.0.0.1", 80)
		m.Observe(ev)
		ev = serverEvent(svc, "GET", "/", 200, time.Millisecond, 0, 0)
		ev.HTTP.Route = "/r\xff"
		m.Observe(ev)
	}
	// Both invalid variants must land in one series, or the scrape fails.
	for _, f := range []string{"http_server_request_duration_seconds", "http_client_request_duration_seconds"} {
		got := gather(t, m, f)
		if len(got) != 1 {
			t.Errorf("%s: %v", f, keys(got))
		}
		for k, s := range got {
			if !strings.Contains(k, "service_name=\"svc\ufffd\"") || s.count != 2 {
				t.Errorf("%s: %s count %d", f, k, s.count)
			}
		}
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	m := NewHTTP(HTTPOptions{})
	evs := map[string]*event.Event{
		"collapsed route": serverEvent("api", "GET", "/users/123/orders/9f2c4e1a", 200, time.Millisecond, 10, 20),
		"unchanged path":  serverEvent("api", "GET", "/healthz", 200, time.Millisecond, 10, 20),
		"client":          clientEvent("web", "api.example.com:443", "10.0.0.1", 443),
	}
	for name, ev := range evs {
		m.Observe(ev) // create the series and intern the route
		n := testing.AllocsPerRun(1000, func() {
			ev.HTTP.Route = ""
			m.Observe(ev)
		})
		if n != 0 {
			t.Errorf("%s: %v allocs per Observe, want 0", name, n)
		}
	}
}

func TestConcurrentObserveAndScrape(t *testing.T) {
	m := NewHTTP(HTTPOptions{MaxSeries: 50, SeriesTTL: time.Nanosecond})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	const writers, perWriter = 4, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				m.Observe(serverEvent("api", "GET", fmt.Sprintf("/w%d/%d", w, i%80), 200, time.Millisecond, 1, 1))
				m.Observe(clientEvent("web", fmt.Sprintf("h%d", i%60), "10.0.0.1", 80))
			}
		})
	}
	done := make(chan struct{})
	var scrapes sync.WaitGroup
	scrapes.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(done)
	scrapes.Wait()

	// With a TTL far from reached, every observation is accounted for:
	// in a series or in the overflow counter.
	m = NewHTTP(HTTPOptions{MaxSeries: 50})
	wg = sync.WaitGroup{}
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				m.Observe(serverEvent("api", "GET", fmt.Sprintf("/w%d/%d", w, i%80), 200, time.Millisecond, 1, 1))
			}
		})
	}
	wg.Wait()
	var total uint64
	for _, s := range gather(t, m, "http_server_request_duration_seconds") {
		total += s.count
	}
	if total != writers*perWriter {
		t.Errorf("observations in series: %d, want %d", total, writers*perWriter)
	}
}

// BenchmarkObserve times the route stage and this sink together, as the
// pipeline runs them for every http event.
func BenchmarkObserve(b *testing.B) {
	matcher, err := route.NewMatcher([]string{"/api/{version}/items/{item}", "/static/*"})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		ev    *event.Event
		route string
	}{
		{"server/route-set", serverEvent("api", "GET", "/users/123", 200, time.Millisecond, 10, 20), "/users/{id}"},
		{"server/unchanged-path", serverEvent("api", "GET", "/healthz", 200, time.Millisecond, 10, 20), ""},
		{"server/collapsed-path", serverEvent("api", "GET", "/users/123/orders/9f2c4e1a", 200, time.Millisecond, 10, 20), ""},
		{"server/pattern", serverEvent("api", "GET", "/api/v1/items/abc", 200, time.Millisecond, 10, 20), ""},
		{"client", clientEvent("web", "api.example.com:443", "10.0.0.1", 443), ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			res := route.NewResolver(matcher, DefaultMaxSeries)
			m := NewHTTP(HTTPOptions{})
			// A realistic map: other series around the one observed.
			for i := range 1000 {
				m.Observe(serverEvent(fmt.Sprintf("svc%d", i%20), "GET", fmt.Sprintf("/r%d", i), 200, time.Millisecond, 1, 1))
			}
			b.ReportAllocs()
			for b.Loop() {
				bc.ev.HTTP.Route = bc.route
				res.Resolve(bc.ev)
				m.Observe(bc.ev)
			}
		})
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	m := NewHTTP(HTTPOptions{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ev := serverEvent("api", "GET", "/users/123", 200, time.Millisecond, 10, 20)
		for pb.Next() {
			ev.HTTP.Route = "/users/{id}"
			m.Observe(ev)
		}
	})
}

func BenchmarkCollect(b *testing.B) {
	m := NewHTTP(HTTPOptions{})
	for i := range DefaultMaxSeries {
		m.Observe(serverEvent("api", "GET", fmt.Sprintf("/r%d", i), 200, time.Millisecond, 1, 1))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
