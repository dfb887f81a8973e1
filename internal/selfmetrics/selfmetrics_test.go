package selfmetrics

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gather returns every sample as name{label values} -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			k := mf.GetName()
			for _, l := range m.Label {
				k += "{" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				out[k] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[k] = m.Gauge.GetValue()
			}
		}
	}
	return out
}

// Series of one family from several components are one metric, read at
// each scrape; a failed read leaves its series out, not the others.
func TestSet(t *testing.T) {
	s := New(nil)
	var a, b uint64 = 3, 5
	s.Add(Lost, func() uint64 { return a }, "process")
	s.Add(Lost, func() uint64 { return b }, "sockdata")
	s.AddReader(Lost, func() (uint64, error) { return 0, errors.New("map gone") }, "file")
	s.Add(NewGauge("vigil_test_entries", "Entries."), func() uint64 { return 7 })

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	got := gather(t, reg)
	want := map[string]float64{
		"vigil_events_lost_total{process}":  3,
		"vigil_events_lost_total{sockdata}": 5,
		"vigil_test_entries":                7,
	}
	if len(got) != len(want) {
		t.Errorf("samples %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	a = 4
	if got := gather(t, reg)["vigil_events_lost_total{process}"]; got != 4 {
		t.Errorf("after the counter moved: %v, want 4", got)
	}
}
