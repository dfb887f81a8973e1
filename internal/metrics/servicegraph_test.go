package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vigil-dev/vigil/internal/event"
)

func pair(client, server string, clientStatus, serverStatus int, clientNs, serverNs uint64) (*event.Event, *event.Event) {
	return &event.Event{Process: event.Process{Service: client}, HTTP: &event.HTTP{Side: event.SideClient, Status: clientStatus, DurationNs: clientNs}},
		&event.Event{Process: event.Process{Service: server}, HTTP: &event.HTTP{Side: event.SideServer, Status: serverStatus, DurationNs: serverNs}}
}

func TestServiceGraph(t *testing.T) {
	g := NewServiceGraph(2)
	g.Observe(pair("front", "back", 200, 200, 300e6, 150e6))
	g.Observe(pair("front", "back", 503, 503, 50e6, 40e6))
	g.Observe(pair("curl", "front", 200, 200, 1e9, 900e6))
	g.Observe(pair("a", "b", 200, 200, 1, 1)) // beyond 2 edges
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(g)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&b, mf)
	}
	text := b.String()
	for _, want := range []string{
		`traces_service_graph_request_total{client="front",server="back"} 2`,
		`traces_service_graph_request_failed_total{client="front",server="back"} 1`,
		`traces_service_graph_request_total{client="curl",server="front"} 1`,
		`traces_service_graph_request_total{client="_overflow",server="_overflow"} 1`,
		`traces_service_graph_request_server_seconds_bucket{client="front",server="back",le="0.1"} 1`,
		`traces_service_graph_request_client_seconds_bucket{client="front",server="back",le="0.4"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %s in\n%s", want, text)
		}
	}
}
