package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/vigil-dev/vigil/internal/event"
)

// pair is the server event of a node-local call, as the pipeline hands it
// to its sinks: its client end joined and named.
func pair(client, server string, clientStatus, serverStatus int, clientNs, serverNs uint64) *event.Event {
	return &event.Event{Kind: event.KindHTTP, Process: event.Process{Service: server}, HTTP: &event.HTTP{
		Side: event.SideServer, Status: serverStatus, DurationNs: serverNs,
		Caller: &event.Caller{Service: client, Status: clientStatus, DurationNs: clientNs},
	}}
}

func TestServiceGraph(t *testing.T) {
	g := NewServiceGraph(2)
	g.Handle(pair("front", "back", 200, 200, 300e6, 150e6))
	g.Handle(pair("front", "back", 503, 503, 50e6, 40e6))
	g.Handle(pair("curl", "front", 200, 200, 1e9, 900e6))
	g.Handle(pair("a", "b", 200, 200, 1, 1)) // beyond 2 edges
	// Not edges: a server end whose client was not seen, a client end.
	g.Handle(&event.Event{Kind: event.KindHTTP, HTTP: &event.HTTP{Side: event.SideServer, Status: 200}})
	g.Handle(&event.Event{Kind: event.KindHTTP, HTTP: &event.HTTP{Side: event.SideClient, Status: 200}})
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
