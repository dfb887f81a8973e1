package agent

import (
	"log/slog"
	"runtime"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/version"
)

// selfMetrics are the agent's own `vigil_` metrics. Counters live in atomics
// on the hot path and are turned into Prometheus samples only at scrape.
type selfMetrics struct {
	events        map[event.Kind]*atomic.Uint64
	decodeErrors  atomic.Uint64
	queues        []*bpfrt.Queue
	lost          []lostSource // sensors writing into another's queue
	dropCounters  map[string]func() uint64
	log           *slog.Logger
	eventsDesc    *prometheus.Desc
	lostDesc      *prometheus.Desc
	droppedDesc   *prometheus.Desc
	receivedDesc  *prometheus.Desc
	buildInfoDesc *prometheus.Desc
	procDesc      *prometheus.Desc
	procLen       func() int
	http          *httpStats
	classified    func() (http1, other uint64, err error)
	connsDesc     *prometheus.Desc
	parseDesc     *prometheus.Desc
	unseenDesc    *prometheus.Desc
	compatExits   func() (uint64, error) // nil without the syscall dispatcher
}

func newSelfMetrics(log *slog.Logger) *selfMetrics {
	m := &selfMetrics{
		events: make(map[event.Kind]*atomic.Uint64, len(event.AllKinds)),
		log:    log,
		eventsDesc: prometheus.NewDesc("vigil_events_total",
			"Events emitted by vigil, by kind.", []string{"kind"}, nil),
		lostDesc: prometheus.NewDesc("vigil_events_lost_total",
			"Records the kernel could not deliver because the ring buffer was full, by source.", []string{"source"}, nil),
		droppedDesc: prometheus.NewDesc("vigil_events_dropped_total",
			"Records dropped in userspace, by stage (decode: malformed record; http_orphan_data, http_conn_evicted; alerts: alerts not written, the output too slow or failing).", []string{"stage"}, nil),
		receivedDesc: prometheus.NewDesc("vigil_ring_records_total",
			"Records read from kernel ring buffers, by source.", []string{"source"}, nil),
		buildInfoDesc: prometheus.NewDesc("vigil_build_info",
			"Build information; the value is always 1.", []string{"version", "commit", "goversion"}, nil),
		procDesc: prometheus.NewDesc("vigil_process_table_entries",
			"Processes in vigil's process table, including recently exited ones kept for lineage.", nil, nil),
		connsDesc: prometheus.NewDesc("vigil_http_connections_total",
			"TCP connections classified by their first bytes: http1 is captured, other (TLS, databases, malformed) is not.", []string{"protocol"}, nil),
		parseDesc: prometheus.NewDesc("vigil_http_parse_errors_total",
			"Problems met assembling HTTP exchanges, counted when the connection ends.", []string{"reason"}, nil),
		unseenDesc: prometheus.NewDesc("vigil_syscalls_unseen_total",
			"Syscalls the syscall sensors could not look at, by reason (compat: a 32-bit call).", []string{"reason"}, nil),
	}
	for _, k := range event.AllKinds {
		m.events[k] = new(atomic.Uint64)
	}
	return m
}

// lostSource is a sensor whose kernel lost counter is its own although
// its records go through another sensor's queue.
type lostSource struct {
	name string
	lost func() (uint64, error)
}

func (m *selfMetrics) countEvent(k event.Kind) {
	if c, ok := m.events[k]; ok {
		c.Add(1)
	}
}

func (m *selfMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.eventsDesc
	ch <- m.lostDesc
	ch <- m.droppedDesc
	ch <- m.receivedDesc
	ch <- m.buildInfoDesc
	ch <- m.procDesc
	ch <- m.connsDesc
	ch <- m.parseDesc
	ch <- m.unseenDesc
}

func (m *selfMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, k := range event.AllKinds {
		ch <- prometheus.MustNewConstMetric(m.eventsDesc, prometheus.CounterValue, float64(m.events[k].Load()), string(k))
	}
	for _, q := range m.queues {
		lost, err := q.Lost()
		if err != nil {
			m.log.Warn("reading kernel lost counter failed", "source", q.Source(), "error", err)
		}
		ch <- prometheus.MustNewConstMetric(m.lostDesc, prometheus.CounterValue, float64(lost), q.Source())
		ch <- prometheus.MustNewConstMetric(m.receivedDesc, prometheus.CounterValue, float64(q.Stats().Received.Load()), q.Source())
	}
	for _, l := range m.lost {
		lost, err := l.lost()
		if err != nil {
			m.log.Warn("reading kernel lost counter failed", "source", l.name, "error", err)
		}
		ch <- prometheus.MustNewConstMetric(m.lostDesc, prometheus.CounterValue, float64(lost), l.name)
	}
	ch <- prometheus.MustNewConstMetric(m.droppedDesc, prometheus.CounterValue, float64(m.decodeErrors.Load()), "decode")
	for stage, n := range m.dropCounters {
		ch <- prometheus.MustNewConstMetric(m.droppedDesc, prometheus.CounterValue, float64(n()), stage)
	}
	if h := m.http; h != nil {
		ch <- prometheus.MustNewConstMetric(m.droppedDesc, prometheus.CounterValue, float64(h.orphanData.Load()), "http_orphan_data")
		ch <- prometheus.MustNewConstMetric(m.droppedDesc, prometheus.CounterValue, float64(h.evicted.Load()), "http_conn_evicted")
		for reason, c := range map[string]*atomic.Uint64{
			"unknown": &h.unknown, "desync": &h.desyncs, "incomplete": &h.incomplete,
			"unanswered": &h.unanswered, "orphan_response": &h.orphans,
		} {
			ch <- prometheus.MustNewConstMetric(m.parseDesc, prometheus.CounterValue, float64(c.Load()), reason)
		}
	}
	if m.classified != nil {
		if h1, other, err := m.classified(); err != nil {
			m.log.Warn("reading connection classification counters", "error", err)
		} else {
			ch <- prometheus.MustNewConstMetric(m.connsDesc, prometheus.CounterValue, float64(h1), "http1")
			ch <- prometheus.MustNewConstMetric(m.connsDesc, prometheus.CounterValue, float64(other), "other")
		}
	}
	if m.compatExits != nil {
		if n, err := m.compatExits(); err != nil {
			m.log.Warn("reading the compat syscall counter", "error", err)
		} else {
			ch <- prometheus.MustNewConstMetric(m.unseenDesc, prometheus.CounterValue, float64(n), "compat")
		}
	}
	ch <- prometheus.MustNewConstMetric(m.buildInfoDesc, prometheus.GaugeValue, 1, version.Version, version.Commit(), runtime.Version())
	if m.procLen != nil {
		ch <- prometheus.MustNewConstMetric(m.procDesc, prometheus.GaugeValue, float64(m.procLen()))
	}
}
