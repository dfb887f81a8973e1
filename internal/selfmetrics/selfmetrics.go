// Package selfmetrics holds vigil's own `vigil_` metrics. One collector,
// Set, serves them all; each component adds the series it owns (a sensor
// its lost counter, a ring its record count, the process table its size),
// so that a new component brings its metrics along and nothing else has to
// know of them. Values are read at scrape time from the counters the
// components keep (atomics, BPF maps), never pushed on the hot path.
package selfmetrics

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Family is one metric: its name, help, type and label names.
type Family struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

// NewCounter returns a counter family.
func NewCounter(name, help string, labels ...string) *Family {
	return &Family{desc: prometheus.NewDesc(name, help, labels, nil), typ: prometheus.CounterValue}
}

// NewGauge returns a gauge family.
func NewGauge(name, help string, labels ...string) *Family {
	return &Family{desc: prometheus.NewDesc(name, help, labels, nil), typ: prometheus.GaugeValue}
}

// The families several components add series to (the metrics contract in
// docs/metrics.md).
var (
	Lost = NewCounter("vigil_events_lost_total",
		"Records the kernel could not deliver because the ring buffer was full, by source.", "source")
	Dropped = NewCounter("vigil_events_dropped_total",
		"Records dropped in userspace, by stage (decode: malformed record; http_orphan_data, http_conn_evicted; alerts: alerts not written, the output too slow or failing).", "stage")
	RingRecords = NewCounter("vigil_ring_records_total",
		"Records read from kernel ring buffers, by source.", "source")
)

type series struct {
	f      *Family
	labels []string
	read   func() (uint64, error)
}

// Set is a prometheus.Collector of the series added to it. Safe for
// concurrent use. Add every series before the set is registered: Describe
// tells the registry of the families added so far, and a checked registry
// refuses samples of a family it was not told of.
type Set struct {
	log *slog.Logger

	mu     sync.Mutex
	series []series
	fams   []*Family
}

// New returns an empty set; read errors are logged to log.
func New(log *slog.Logger) *Set {
	if log == nil {
		log = slog.Default()
	}
	return &Set{log: log}
}

// Add adds a series of f with these label values, whose value read returns
// at each scrape.
func (s *Set) Add(f *Family, read func() uint64, labels ...string) {
	s.AddReader(f, func() (uint64, error) { return read(), nil }, labels...)
}

// AddReader is Add for a value whose reading can fail (a BPF map): a
// failed read is logged and the series left out of that scrape.
func (s *Set) AddReader(f *Family, read func() (uint64, error), labels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.series = append(s.series, series{f: f, labels: labels, read: read})
	for _, g := range s.fams {
		if g == f {
			return
		}
	}
	s.fams = append(s.fams, f)
}

// Describe implements prometheus.Collector.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fams {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	all := append([]series(nil), s.series...)
	s.mu.Unlock()
	for _, x := range all {
		v, err := x.read()
		if err != nil {
			s.log.Warn("reading a vigil metric failed", "metric", x.f.desc.String(), "labels", x.labels, "error", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(x.f.desc, x.f.typ, float64(v), x.labels...)
	}
}
