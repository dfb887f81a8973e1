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
)

const (
	// DefaultMaxSeries is HTTPOptions.MaxSeries when unset.
	DefaultMaxSeries = 5000
	// DefaultSeriesTTL is HTTPOptions.SeriesTTL when unset, as in Beyla.
	DefaultSeriesTTL = 5 * time.Minute

	// Overflow is the value of every label of the series that receives a
	// metric's observations once it has MaxSeries label sets.
	Overflow = "_overflow"
	// Other replaces a status code that is not valid, as
	// event.OtherMethod replaces a method that is not standard.
	Other = event.OtherMethod
)

// HTTPOptions configure HTTP.
type HTTPOptions struct {
	// MaxSeries caps the label sets of each metric (default
	// DefaultMaxSeries). Observations for new label sets beyond it go to
	// the metric's overflow series and are counted in
	// vigil_metrics_overflow_total.
	MaxSeries int
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
	maxSeries    int
	ttl          time.Duration
	now          func() time.Time // replaced in tests
	durations    []float64
	sizes        []float64
	overflowDesc *prometheus.Desc

	mu     sync.Mutex
	server family
	client family
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
		maxSeries: opts.MaxSeries,
		ttl:       opts.SeriesTTL,
		now:       time.Now,
		durations: DurationBuckets(),
		sizes:     BodySizeBuckets(),
		overflowDesc: prometheus.NewDesc("vigil_metrics_overflow_total",
			"Observations recorded in a metric's overflow series (every label \"_overflow\") because the metric had reached its cap on label sets.",
			[]string{"metric"}, nil),
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
// any other event. The http_route label is ev.HTTP.Route, which the
// pipeline's route stage (route.Resolver) has set.
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
	k := seriesKey{
		service: labelValue(ev.Process.Service),
		method:  event.KnownMethod(h.Method),
		status:  status(h.Status),
	}
	if k.service == "" {
		k.service = event.UnknownService
	}
	// OpenTelemetry's server.port: the server's port on either side.
	if server {
		k.target = labelValue(h.Route)
		k.port = h.Local.Port
	} else {
		k.target = labelValue(h.ServerAddress())
		k.port = h.Peer.Port
	}
	values := [3]float64{
		float64(h.DurationNs) / 1e9,
		float64(h.RequestBodyBytes),
		float64(h.ResponseBodyBytes),
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seriesLocked(f, &k)
	for i := range s.hists {
		s.hists[i].observe(values[i])
	}
	s.touched = true
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
		method:  k.method, // a constant from event.KnownMethod
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
