// Package traces turns http events into OpenTelemetry spans (OTLP protobuf),
// following the HTTP semantic conventions.
package traces

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/vigil-dev/vigil/internal/event"
)

// ResourceKey identifies the resource (the process) a span belongs to.
type ResourceKey struct {
	Service     string
	PID         uint32
	Exe         string
	ContainerID string
}

// KeyOf returns the resource key of an event's process.
func KeyOf(p *event.Process) ResourceKey {
	return ResourceKey{Service: p.Service, PID: p.PID, Exe: p.Exe, ContainerID: p.ContainerID}
}

// Resource builds the OTLP resource of a process.
func Resource(k ResourceKey, hostName string) *resourcepb.Resource {
	service := k.Service
	if service == "" {
		service = event.UnknownService
	}
	attrs := []*commonpb.KeyValue{
		str("service.name", service),
		intAttr("process.pid", int64(k.PID)),
		str("telemetry.distro.name", "vigil"),
	}
	if k.Exe != "" {
		attrs = append(attrs, str("process.executable.path", k.Exe), str("process.executable.name", filepath.Base(k.Exe)))
	}
	if hostName != "" {
		attrs = append(attrs, str("host.name", hostName))
	}
	if k.ContainerID != "" {
		attrs = append(attrs, str("container.id", k.ContainerID))
	}
	return &resourcepb.Resource{Attributes: attrs}
}

// HostName returns the node's name for resources ("" if unknown).
func HostName() string {
	h, _ := os.Hostname()
	return h
}

// FromHTTP returns the span of an http event, or nil when the event has no
// valid ids.
func FromHTTP(ev *event.Event) *tracepb.Span {
	h := ev.HTTP
	if h == nil {
		return nil
	}
	traceID, err1 := hex.DecodeString(h.TraceID)
	spanID, err2 := hex.DecodeString(h.SpanID)
	if err1 != nil || err2 != nil || len(traceID) != 16 || len(spanID) != 8 {
		return nil
	}
	var parent []byte
	if h.ParentSpanID != "" {
		if p, err := hex.DecodeString(h.ParentSpanID); err == nil && len(p) == 8 {
			parent = p
		}
	}
	method := event.KnownMethod(h.Method)
	start := uint64(ev.Time.UnixNano())
	s := &tracepb.Span{
		TraceId:           traceID,
		SpanId:            spanID,
		ParentSpanId:      parent,
		StartTimeUnixNano: start,
		EndTimeUnixNano:   start + h.DurationNs,
		Attributes: []*commonpb.KeyValue{
			str("http.request.method", method),
			intAttr("http.response.status_code", int64(h.Status)),
			str("url.path", h.Path),
		},
	}
	if method == event.OtherMethod {
		s.Attributes = append(s.Attributes, str("http.request.method_original", h.Method))
		method = "HTTP"
	}
	isError := false
	switch h.Side {
	case event.SideServer:
		s.Kind = tracepb.Span_SPAN_KIND_SERVER
		s.Name = method + " " + h.Route
		s.Attributes = append(s.Attributes,
			str("http.route", h.Route),
			str("server.address", serverAddress(h)),
			intAttr("server.port", int64(h.Local.Port)),
			str("client.address", h.Peer.Addr),
			str("network.peer.address", h.Peer.Addr),
			intAttr("network.peer.port", int64(h.Peer.Port)),
		)
		isError = h.Status >= 500 || h.Status == 0
	default:
		s.Kind = tracepb.Span_SPAN_KIND_CLIENT
		s.Name = method
		s.Attributes = append(s.Attributes,
			str("server.address", h.ServerAddress()),
			intAttr("server.port", int64(h.Peer.Port)),
			str("network.peer.address", h.Peer.Addr),
			intAttr("network.peer.port", int64(h.Peer.Port)),
		)
		isError = h.Status >= 400 || h.Status == 0
	}
	if isError {
		s.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR}
		s.Attributes = append(s.Attributes, str("error.type", strconv.Itoa(h.Status)))
	}
	return s
}

// serverAddress is, for a server span, the host the client asked for in
// its Host header (when that names a host), else the address the
// connection was accepted on.
func serverAddress(h *event.HTTP) string {
	if host := h.HostName(); host != "" {
		return host
	}
	return h.Local.Addr
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func intAttr(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}
