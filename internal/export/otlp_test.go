package export

import "testing"

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestOTLPEnvironment(t *testing.T) {
	if OTLPTraceEnabled(env(nil)) {
		t.Error("enabled without an endpoint")
	}
	if !OTLPTraceEnabled(env(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:4318"})) {
		t.Error("not enabled with a traces endpoint")
	}
	if OTLPTraceEnabled(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"})) {
		t.Error("enabled with OTEL_TRACES_EXPORTER=none")
	}
	for _, c := range []struct {
		env  map[string]string
		want string
		ok   bool
	}{
		{nil, "http/protobuf", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, "http/protobuf", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "", false},
	} {
		got, err := OTLPProtocol(env(c.env), SignalTraces)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("%v: %q, %v", c.env, got, err)
		}
	}
	// The traces variable does not set the metrics protocol.
	if got, _ := OTLPProtocol(env(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}), SignalMetrics); got != "http/protobuf" {
		t.Errorf("metrics protocol from the traces variable: %q", got)
	}
}

func TestOTLPTimeout(t *testing.T) {
	if d, err := OTLPTimeout(env(nil)); d != 0 || err != nil {
		t.Errorf("unset: %v %v", d, err)
	}
	if d, _ := OTLPTimeout(env(map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "1500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "250"})); d.Milliseconds() != 250 {
		t.Errorf("traces timeout wins: %v", d)
	}
	if _, err := OTLPTimeout(env(map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"})); err == nil {
		t.Error("bad value accepted")
	}
}
