package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/event"
)

// ServiceGraph counts the calls between services that vigil saw at both
// ends on this node, with Tempo's service graph metric names, so Grafana's
// service graph view works on them. It is a sink: the stitcher marks the
// server events whose client end it joined (event.HTTP.Caller), and the
// pipeline names the caller's service.
type ServiceGraph struct {
	maxEdges int

	mu    sync.Mutex
	edges map[edgeKey]*edge

	total, failed, serverSec, clientSec *prometheus.Desc
}

type edgeKey struct{ client, server string }

type edge struct {
	total, failed  uint64
	server, client histogram
	created        time.Time
}

// ServiceGraphBuckets are Tempo's default service graph buckets (seconds).
func ServiceGraphBuckets() []float64 { return []float64{0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8} }

// NewServiceGraph returns an empty graph with at most maxEdges edges
// (client, server pairs); further edges are counted as overflow.
func NewServiceGraph(maxEdges int) *ServiceGraph {
	if maxEdges <= 0 {
		maxEdges = 10000
	}
	labels := []string{"client", "server"}
	return &ServiceGraph{
		maxEdges: maxEdges,
		edges:    make(map[edgeKey]*edge),
		total: prometheus.NewDesc("traces_service_graph_request_total",
			"Requests between two services, seen at both ends on this node.", labels, nil),
		failed: prometheus.NewDesc("traces_service_graph_request_failed_total",
			"Requests between two services that failed (server 5xx, or client 4xx/5xx or no response).", labels, nil),
		serverSec: prometheus.NewDesc("traces_service_graph_request_server_seconds",
			"Request duration as the server saw it.", labels, nil),
		clientSec: prometheus.NewDesc("traces_service_graph_request_client_seconds",
			"Request duration as the client saw it.", labels, nil),
	}
}

// Handle records the request of a server http event whose client end was
// seen on this node, and ignores every other event.
func (g *ServiceGraph) Handle(ev *event.Event) {
	if ev.Kind != event.KindHTTP || ev.HTTP == nil || ev.HTTP.Side != event.SideServer || ev.HTTP.Caller == nil {
		return
	}
	server, client := ev.HTTP, ev.HTTP.Caller
	k := edgeKey{serviceLabel(client.Service), serviceLabel(ev.Process.Service)}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.edges[k]
	if e == nil {
		if len(g.edges) >= g.maxEdges {
			k = edgeKey{Overflow, Overflow} // bounded: one more series at most
			e = g.edges[k]
		}
		if e == nil {
			b := ServiceGraphBuckets()
			e = &edge{
				server:  histogram{bounds: b, counts: make([]uint64, len(b)+1)},
				client:  histogram{bounds: b, counts: make([]uint64, len(b)+1)},
				created: time.Now(),
			}
			g.edges[k] = e
		}
	}
	e.total++
	if st := server.Status; st >= 500 || st == 0 || client.Status >= 400 || client.Status == 0 {
		e.failed++
	}
	e.server.observe(float64(server.DurationNs) / 1e9)
	e.client.observe(float64(client.DurationNs) / 1e9)
}

func serviceLabel(s string) string {
	if s == "" {
		return event.UnknownService
	}
	return labelValue(s)
}

// Describe implements prometheus.Collector.
func (g *ServiceGraph) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.total
	ch <- g.failed
	ch <- g.serverSec
	ch <- g.clientSec
}

// Collect implements prometheus.Collector.
func (g *ServiceGraph) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, e := range g.edges {
		labels := []string{k.client, k.server}
		ch <- prometheus.MustNewConstMetric(g.total, prometheus.CounterValue, float64(e.total), labels...)
		ch <- prometheus.MustNewConstMetric(g.failed, prometheus.CounterValue, float64(e.failed), labels...)
		ch <- constHistogram(g.serverSec, e.server.bounds, e.server.counts, e.server.sum, e.created, labels)
		ch <- constHistogram(g.clientSec, e.client.bounds, e.client.counts, e.client.sum, e.created, labels)
	}
}
