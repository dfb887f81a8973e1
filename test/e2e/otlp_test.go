package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP trace receiver built from the official protobuf
// definitions, serving gRPC or HTTP/protobuf.
type receiver struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func (r *receiver) add(req *collectorpb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := attr(rs.GetResource().GetAttributes(), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, receivedSpan{service, s})
			}
		}
	}
}

func (r *receiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	r.add(req)
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var msg collectorpb.ExportTraceServiceRequest
	if err != nil || req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &msg) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.add(&msg)
	out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (r *receiver) find(match func(receivedSpan) bool) []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []receivedSpan
	for _, s := range r.spans {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			if v := kv.GetValue(); v.GetStringValue() != "" {
				return v.GetStringValue()
			} else {
				return fmt.Sprint(v.GetIntValue())
			}
		}
	}
	return ""
}

func startReceiver(t *testing.T, protocol string) (*receiver, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{}
	if protocol == "grpc" {
		srv := grpc.NewServer()
		collectorpb.RegisterTraceServiceServer(srv, r)
		go srv.Serve(ln)
		t.Cleanup(srv.Stop)
	} else {
		srv := &http.Server{Handler: r}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	return r, "http://" + ln.Addr().String()
}

// TestOTLPSpansReachARealReceiver sends spans over gRPC and HTTP/protobuf,
// configured only through the standard OTEL_EXPORTER_OTLP_* variables.
func TestOTLPSpansReachARealReceiver(t *testing.T) {
	needTool(t, "curl")
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(strings.ReplaceAll(protocol, "/", "_"), func(t *testing.T) {
			rcv, endpoint := startReceiver(t, protocol)
			addr := freePort(t)
			v := startVigilEnv(t, []string{
				"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
				"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
			}, "vigil running", "run", "--listen", addr)
			defer v.stop()
			srv := startServer(t, "otlp-go", exec.Command(goServerBin))
			url := fmt.Sprintf("http://127.0.0.1:%d", srv.port)
			const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
			for i := range 4 {
				args := []string{"-s", "-o", "/dev/null", url + "/status/503"}
				if i == 0 {
					args = append(args, "-H", "traceparent: 00-"+traceID+"-"+parentID+"-01")
				}
				if err := exec.Command("curl", args...).Run(); err != nil {
					t.Fatal(err)
				}
			}
			server := func(s receivedSpan) bool {
				return s.service == "otlp-go" && s.span.GetKind() == tracepb.Span_SPAN_KIND_SERVER
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(rcv.find(server)) < 4 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			spans := rcv.find(server)
			if len(spans) != 4 {
				t.Fatalf("want 4 server spans of otlp-go, got %d", len(spans))
			}
			joined := 0
			for _, s := range spans {
				sp := s.span
				if sp.GetName() != "GET /status/{id}" || attr(sp.GetAttributes(), "http.response.status_code") != "503" ||
					sp.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || sp.GetEndTimeUnixNano() <= sp.GetStartTimeUnixNano() ||
					attr(sp.GetAttributes(), "server.port") != fmt.Sprint(srv.port) {
					t.Errorf("server span: %v", sp)
				}
				if fmt.Sprintf("%x", sp.GetTraceId()) == traceID && fmt.Sprintf("%x", sp.GetParentSpanId()) == parentID {
					joined++
				}
			}
			if joined != 1 {
				t.Errorf("spans joined to the incoming traceparent: %d, want 1", joined)
			}
			clients := rcv.find(func(s receivedSpan) bool {
				return s.service == "curl" && s.span.GetKind() == tracepb.Span_SPAN_KIND_CLIENT &&
					attr(s.span.GetAttributes(), "server.port") == fmt.Sprint(srv.port)
			})
			if len(clients) != 4 {
				t.Errorf("want 4 client spans from curl, got %d", len(clients))
			}
		})
	}
}

// TestOTLPReceiverDownNeverBlocks: with nothing listening, vigil keeps
// serving and counting, counts the failed spans, and stops in time.
func TestOTLPReceiverDownNeverBlocks(t *testing.T) {
	needTool(t, "curl")
	dead := "http://" + freePort(t) // nothing listens there
	addr := freePort(t)
	v := startVigilEnv(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + dead,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_TIMEOUT=500",
	}, "vigil running", "run", "--listen", addr)
	defer v.stop()
	srv := startServer(t, "otlp-dead", exec.Command(goServerBin))
	for range 5 {
		if err := exec.Command("curl", "-s", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/hello", srv.port)).Run(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := httpGet(t, "http://"+addr+"/metrics")
		failed := metricValue(t, body, `vigil_otlp_spans_total{outcome="failed"}`)
		counted := histogramCounts(t, body, "http_server_request_duration_seconds", map[string]string{"service_name": "otlp-dead"})
		if failed >= 5 && counted[key{"GET", "200"}] == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed spans %v, requests counted %v", failed, counted)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
