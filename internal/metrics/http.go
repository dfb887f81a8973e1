// Package metrics aggregates events into Prometheus metrics. HTTP holds the
// RED (rate, errors, duration) histograms of HTTP servers and clients,
// named and labelled as Grafana Beyla exports them (the metrics contract:
// docs/metrics.md).
package metrics

import (
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/route"
)

const (
	// DefaultMaxSeries is HTTPOptions.MaxSeries when unset.
	DefaultMaxSeries = 5000
	// DefaultSeriesTTL is HTTPOptions.SeriesTTL when unset, as in Beyla.
	DefaultSeriesTTL = 5 * time.Minute

	// Overflow is the value of every label of the series that receives a
	// metric's observations once it has MaxSeries label sets.
	Overflow = "_overflow"
	// Other replaces a request method that is not standard, as the
	// OpenTelemetry semantic conventions require, and a status code that
	// is not valid.
	Other = "_OTHER"
	// UnknownService is service_name for processes without a service
	// name, as in the OpenTelemetry SDKs.
	UnknownService = "unknown_service"
)

// HTTPOptions configure HTTP.
type HTTPOptions struct {
	// MaxSeries caps the label sets of each metric (default
	// DefaultMaxSeries). Observations for new label sets beyond it go to
	// the metric's overflow series and are counted in
	// vigil_metrics_overflow_total.
	MaxSeries int
	// Routes maps request paths to configured routes; paths no pattern
	// matches, or all paths when nil, are collapsed by route.Collapse.
	Routes *route.Matcher
	// SeriesTTL drops a label set that has seen no observation for this
	// long (default DefaultSeriesTTL; negative: never), so that peers and
	// routes that come and go do not fill MaxSeries for good. A dropped
	// series that comes back starts from zero, which rate() and increase()
	// read as a counter reset.
	SeriesTTL time.Duration
}

// HTTP aggregates http events into request duration and body size
// histograms for the server and client side. It is a prometheus.Collector
// and safe for concurrent use: Observe takes one uncontended mutex and does
// not allocate once its label set exists; the Prometheus samples are built
// only at scrape.
type HTTP struct {
	routes       *route.Matcher
	maxSeries    int
	ttl          time.Duration
	now          func() time.Time // replaced in tests
	durations    []float64
	sizes        []float64
	overflowDesc *prometheus.Desc

	mu sync.Mutex
	// interned holds collapsed routes, so that a path Collapse rewrites
	// costs no allocation once its route has been seen. Cleared when it
	// reaches maxSeries entries, which bounds it under a flood of distinct
	// routes at the price of allocating again.
	interned map[string]string
	server   family
	client   family
}

// family is the three histograms of one side, which share their label
// sets: the request duration and the request and response body sizes.
type family struct {
	names      [3]string
	descs      [3]*prometheus.Desc
	series     map[seriesKey]*series
	overflow   *series // nil until the first overflow
	overflowed uint64  // observations that went to overflow
}

// seriesKey is a label set in comparable form, so that finding a series is
// one map lookup with no allocation. target is http_route on the server
// side and server_address on the client side.
type seriesKey struct {
	service, method, target string
	status                  int
	port                    uint16
}

type series struct {
	labels   []string // label values, in the order of the family's descs
	created  time.Time
	lastSeen time.Time // when a scrape last found it touched
	touched  bool      // observed since the last scrape
	hists    [3]histogram
}

// NewHTTP returns an empty HTTP; register it with a prometheus.Registerer.
func NewHTTP(opts HTTPOptions) *HTTP {
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.SeriesTTL == 0 {
		opts.SeriesTTL = DefaultSeriesTTL
	}
	m := &HTTP{
		routes:    opts.Routes,
		maxSeries: opts.MaxSeries,
		ttl:       opts.SeriesTTL,
		now:       time.Now,
		durations: DurationBuckets(),
		sizes:     BodySizeBuckets(),
		overflowDesc: prometheus.NewDesc("vigil_metrics_overflow_total",
			"Observations recorded in a metric's overflow series (every label \"_overflow\") because the metric had reached its cap on label sets.",
			[]string{"metric"}, nil),
		interned: make(map[string]string),
	}
	m.server = newFamily("server", "http_route")
	m.client = newFamily("client", "server_address")
	return m
}

func newFamily(side, target string) family {
	labels := []string{"service_name", "http_request_method", "http_response_status_code", target, "server_port"}
	f := family{
		names: [3]string{
			"http_" + side + "_request_duration_seconds",
			"http_" + side + "_request_body_size_bytes",
			"http_" + side + "_response_body_size_bytes",
		},
		series: make(map[seriesKey]*series),
	}
	help := [3]string{
		"Duration of HTTP " + side + " requests.",
		"Size of HTTP " + side + " request bodies.",
		"Size of HTTP " + side + " response bodies.",
	}
	for i := range f.descs {
		f.descs[i] = prometheus.NewDesc(f.names[i], help[i], labels, nil)
	}
	return f
}

// Handle is Observe, so that HTTP is an agent sink.
func (m *HTTP) Handle(ev *event.Event) { m.Observe(ev) }

// Observe records an http event in the histograms of its side and ignores
// any other event. It fills ev.HTTP.Route first, as Route does, so it must
// run before the sinks that report the route.
func (m *HTTP) Observe(ev *event.Event) {
	h := httpOf(ev)
	if h == nil {
		return
	}
	var f *family
	switch h.Side {
	case event.SideServer:
		f = &m.server
	case event.SideClient:
		f = &m.client
	default:
		return
	}
	server := f == &m.server
	var buf [routeBufLen]byte
	collapsed := m.resolveRoute(h, buf[:0])

	k := seriesKey{
		service: labelValue(ev.Process.Service),
		method:  Method(h.Method),
		status:  status(h.Status),
	}
	if k.service == "" {
		k.service = UnknownService
	}
	// OpenTelemetry's server.port: the server's port on either side.
	if server {
		k.port = h.Local.Port
	} else {
		k.target = labelValue(ServerAddress(h))
		k.port = h.Peer.Port
	}
	values := [3]float64{
		float64(h.DurationNs) / 1e9,
		float64(h.RequestBodyBytes),
		float64(h.ResponseBodyBytes),
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if collapsed != nil {
		h.Route = m.internLocked(collapsed)
	}
	if server {
		k.target = labelValue(h.Route)
	}
	s := m.seriesLocked(f, &k)
	for i := range s.hists {
		s.hists[i].observe(values[i])
	}
	s.touched = true
}

// Route fills ev.HTTP.Route, when empty, with the first configured pattern
// matching the path, else the collapsed path. It ignores other events.
func (m *HTTP) Route(ev *event.Event) {
	h := httpOf(ev)
	if h == nil {
		return
	}
	var buf [routeBufLen]byte
	if collapsed := m.resolveRoute(h, buf[:0]); collapsed != nil {
		m.mu.Lock()
		h.Route = m.internLocked(collapsed)
		m.mu.Unlock()
	}
}

// routeBufLen fits every collapsed path that is not pathological; longer
// ones cost an allocation.
const routeBufLen = 256

// resolveRoute sets h.Route when it is empty and a pattern matches or
// collapsing leaves the path unchanged. Otherwise it returns the collapsed
// path, appended to buf, for the caller to intern under the lock.
func (m *HTTP) resolveRoute(h *event.HTTP, buf []byte) []byte {
	if h.Route != "" {
		return nil
	}
	if r, ok := m.routes.Match(h.Path); ok {
		h.Route = r
		return nil
	}
	b := route.AppendCollapse(buf, h.Path)
	if string(b) == h.Path {
		h.Route = h.Path
		return nil
	}
	return b
}

// internLocked returns b as a string, the same one every time while it
// stays in the table; the lookup with string(b) does not allocate.
func (m *HTTP) internLocked(b []byte) string {
	if s, ok := m.interned[string(b)]; ok {
		return s
	}
	if len(m.interned) >= m.maxSeries {
		clear(m.interned)
	}
	s := string(b)
	m.interned[s] = s
	return s
}

// seriesLocked returns k's series, creating it if the cap allows, else the
// overflow series.
func (m *HTTP) seriesLocked(f *family, k *seriesKey) *series {
	if s, ok := f.series[*k]; ok {
		return s
	}
	if len(f.series) >= m.maxSeries {
		f.overflowed++
		if f.overflow == nil {
			f.overflow = m.newSeries([]string{Overflow, Overflow, Overflow, Overflow, Overflow})
		}
		return f.overflow
	}
	// The key's strings may point into a record the pipeline reuses
	// (see agent.Sink), so the map keeps copies.
	key := seriesKey{
		service: strings.Clone(k.service),
		method:  k.method, // a constant from Method
		target:  strings.Clone(k.target),
		status:  k.status,
		port:    k.port,
	}
	s := m.newSeries([]string{key.service, key.method, statusLabel(key.status), key.target, strconv.Itoa(int(key.port))})
	f.series[key] = s
	return s
}

func (m *HTTP) newSeries(labels []string) *series {
	now := m.now()
	s := &series{labels: labels, created: now, lastSeen: now}
	counts := make([]uint64, len(m.durations)+1+2*(len(m.sizes)+1))
	for i := range s.hists {
		bounds := m.sizes
		if i == 0 {
			bounds = m.durations
		}
		s.hists[i] = histogram{bounds: bounds, counts: counts[: len(bounds)+1 : len(bounds)+1]}
		counts = counts[len(bounds)+1:]
	}
	return s
}

// Describe implements prometheus.Collector.
func (m *HTTP) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range []*family{&m.server, &m.client} {
		for _, d := range f.descs {
			ch <- d
		}
	}
	ch <- m.overflowDesc
}

// snapshot is a series as a scrape found it.
type snapshot struct {
	f       *family
	labels  []string
	created time.Time
	counts  [3][]uint64
	sums    [3]float64
}

// Collect implements prometheus.Collector. It drops series idle for longer
// than the TTL and copies the rest under the lock, then builds the samples
// without it, so that a scrape holds Observe up for a copy only.
func (m *HTTP) Collect(ch chan<- prometheus.Metric) {
	now := m.now()
	perSeries := len(m.durations) + 1 + 2*(len(m.sizes)+1)

	m.mu.Lock()
	n := len(m.server.series) + len(m.client.series) + 2
	snaps := make([]snapshot, 0, n)
	slab := make([]uint64, 0, n*perSeries)
	take := func(f *family, s *series) {
		sn := snapshot{f: f, labels: s.labels, created: s.created}
		for i, h := range s.hists {
			start := len(slab)
			slab = append(slab, h.counts...)
			sn.counts[i] = slab[start:len(slab):len(slab)]
			sn.sums[i] = h.sum
		}
		snaps = append(snaps, sn)
	}
	var overflowed [2]uint64
	for fi, f := range []*family{&m.server, &m.client} {
		for k, s := range f.series {
			if m.ttl > 0 {
				if s.touched {
					s.lastSeen = now
				} else if now.Sub(s.lastSeen) >= m.ttl {
					delete(f.series, k)
					continue
				}
			}
			s.touched = false
			take(f, s)
		}
		if f.overflow != nil {
			take(f, f.overflow)
		}
		overflowed[fi] = f.overflowed
	}
	m.mu.Unlock()

	for _, sn := range snaps {
		for i, desc := range sn.f.descs {
			bounds := m.sizes
			if i == 0 {
				bounds = m.durations
			}
			ch <- constHistogram(desc, bounds, sn.counts[i], sn.sums[i], sn.created, sn.labels)
		}
	}
	for fi, f := range []*family{&m.server, &m.client} {
		for _, name := range f.names {
			ch <- prometheus.MustNewConstMetric(m.overflowDesc, prometheus.CounterValue, float64(overflowed[fi]), name)
		}
	}
}

func constHistogram(desc *prometheus.Desc, bounds []float64, counts []uint64, sum float64, created time.Time, labels []string) prometheus.Metric {
	cumulative := make(map[float64]uint64, len(bounds))
	var n uint64
	for i, b := range bounds {
		n += counts[i]
		cumulative[b] = n
	}
	n += counts[len(bounds)]
	mt, err := prometheus.NewConstHistogramWithCreatedTimestamp(desc, n, sum, cumulative, created, labels...)
	if err != nil {
		// Unreachable, as label values are made valid UTF-8 before they
		// become a series; reported to the registry rather than panicking.
		return prometheus.NewInvalidMetric(desc, err)
	}
	return mt
}

func httpOf(ev *event.Event) *event.HTTP {
	if ev == nil || ev.Kind != event.KindHTTP {
		return nil
	}
	return ev.HTTP
}

// Method returns the http_request_method label for a request method: the
// method itself when it is one of the nine of RFC 9110 and RFC 5789,
// Other otherwise. Methods are case-sensitive, so "get" is Other, as the OpenTelemetry conventions say. The result is always a
// constant, never the (possibly borrowed) argument.
func Method(method string) string {
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
	return Other
}

// status bounds the status codes a series can hold: valid codes, 0 for no
// response, and -1 for anything else.
func status(code int) int {
	if code == 0 || (code >= 100 && code <= 599) {
		return code
	}
	return -1
}

func statusLabel(code int) string {
	if code < 0 {
		return Other
	}
	return strconv.Itoa(code)
}

// ServerAddress returns the server_address label of a client request: the
// Host header without its port, else the peer's IP address.
func ServerAddress(h *event.HTTP) string {
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

// labelValue makes s a valid Prometheus label value. Invalid UTF-8 from the
// wire is replaced here, before s becomes part of a key: replacing it only
// when building samples could give two series the same labels, which fails
// the whole scrape.
func labelValue(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
