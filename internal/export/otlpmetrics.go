package export

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	promb "go.opentelemetry.io/contrib/bridges/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/vigil-dev/vigil/internal/traces"
	"github.com/vigil-dev/vigil/internal/version"
)

// OTLPMetricsEnabled reports whether the environment asks for metrics over
// OTLP: an endpoint is set and OTEL_METRICS_EXPORTER is not "none".
func OTLPMetricsEnabled(lookup func(string) (string, bool)) bool {
	if v, _ := lookup("OTEL_METRICS_EXPORTER"); strings.EqualFold(strings.TrimSpace(v), "none") {
		return false
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			return true
		}
	}
	return false
}

// OTLPMetrics pushes everything the Prometheus registry serves at /metrics
// over OTLP as well, through the OpenTelemetry SDK's periodic reader and
// its Prometheus bridge: the same series, one source of truth. Interval and
// timeout come from OTEL_METRIC_EXPORT_INTERVAL / _TIMEOUT (SDK defaults:
// 60 s, 30 s); endpoint, headers and TLS from OTEL_EXPORTER_OTLP_*.
type OTLPMetrics struct {
	provider *sdkmetric.MeterProvider
}

// NewOTLPMetrics starts pushing gatherer's metrics with protocol "grpc" or
// "http/protobuf".
func NewOTLPMetrics(ctx context.Context, protocol string, gatherer prometheus.Gatherer) (*OTLPMetrics, error) {
	var (
		exp sdkmetric.Exporter
		err error
	)
	switch protocol {
	case "grpc":
		exp, err = otlpmetricgrpc.New(ctx)
	case "http/protobuf", "":
		exp, err = otlpmetrichttp.New(ctx)
	default:
		return nil, fmt.Errorf("OTLP protocol %q: vigil supports grpc and http/protobuf", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("start OTLP metric exporter: %w", err)
	}
	reader := sdkmetric.NewPeriodicReader(exp,
		sdkmetric.WithProducer(promb.NewMetricProducer(promb.WithGatherer(gatherer))))
	res := resource.NewSchemaless(
		attribute.String("service.name", "vigil"),
		attribute.String("service.version", version.Version),
		attribute.String("host.name", traces.HostName()),
	)
	return &OTLPMetrics{provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))}, nil
}

// Close sends a last collection and stops, within ctx.
func (m *OTLPMetrics) Close(ctx context.Context) error {
	return m.provider.Shutdown(ctx)
}
