package traces

import (
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/vigil-dev/vigil/internal/event"
)

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		if s, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_StringValue); ok {
			m[kv.GetKey()] = s.StringValue
		} else {
			m[kv.GetKey()] = kv.GetValue().GetIntValue()
		}
	}
	return m
}

func TestFromHTTP(t *testing.T) {
	ts := time.Unix(100, 0)
	ev := &event.Event{Time: ts, Kind: event.KindHTTP, HTTP: &event.HTTP{
		Side: event.SideServer, Method: "GET", Path: "/users/7", Route: "/users/{id}", Status: 503, DurationNs: 1500,
		Host: "shop.example:8080", Local: event.Endpoint{Addr: "10.0.0.1", Port: 8080}, Peer: event.Endpoint{Addr: "10.0.0.2", Port: 5555},
		TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", ParentSpanID: "00f067aa0ba902b7",
	}}
	s := FromHTTP(ev)
	if s.GetName() != "GET /users/{id}" || s.GetKind() != tracepb.Span_SPAN_KIND_SERVER || s.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("name %q kind %v status %v", s.GetName(), s.GetKind(), s.GetStatus())
	}
	if s.GetStartTimeUnixNano() != uint64(ts.UnixNano()) || s.GetEndTimeUnixNano() != uint64(ts.UnixNano())+1500 || len(s.GetParentSpanId()) != 8 {
		t.Errorf("times/parent: %d %d %x", s.GetStartTimeUnixNano(), s.GetEndTimeUnixNano(), s.GetParentSpanId())
	}
	a := attrs(s.GetAttributes())
	for k, v := range map[string]any{"http.request.method": "GET", "http.response.status_code": int64(503), "http.route": "/users/{id}",
		"url.path": "/users/7", "server.address": "shop.example", "server.port": int64(8080), "client.address": "10.0.0.2"} {
		if a[k] != v {
			t.Errorf("%s = %v, want %v", k, a[k], v)
		}
	}

	ev.HTTP.Side, ev.HTTP.Status, ev.HTTP.Method = event.SideClient, 404, "PURGE"
	s = FromHTTP(ev)
	a = attrs(s.GetAttributes())
	if s.GetName() != "HTTP" || s.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || s.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR ||
		a["http.request.method"] != "_OTHER" || a["http.request.method_original"] != "PURGE" || a["server.port"] != int64(5555) {
		t.Errorf("client span: %q %v %v %v", s.GetName(), s.GetKind(), s.GetStatus(), a)
	}

	// server.address: only a host from the Host header, never user info
	// or junk; else the server's own address (server span) or the peer's
	// (client span).
	for _, tc := range []struct{ host, server, client string }{
		{"bob:pw@Shop.Example:8080", "shop.example", "shop.example"},
		{"[2001:DB8::1]:8080", "2001:db8::1", "2001:db8::1"},
		{"shop example/x?token=t", "10.0.0.1", "10.0.0.2"},
		{"", "10.0.0.1", "10.0.0.2"},
	} {
		ev.HTTP.Host = tc.host
		for side, want := range map[string]string{event.SideServer: tc.server, event.SideClient: tc.client} {
			ev.HTTP.Side = side
			if got := attrs(FromHTTP(ev).GetAttributes())["server.address"]; got != want {
				t.Errorf("%s span, Host %q: server.address %q, want %q", side, tc.host, got, want)
			}
		}
	}

	ev.HTTP.TraceID = "not hex"
	if FromHTTP(ev) != nil {
		t.Error("span with an invalid trace id")
	}
}
