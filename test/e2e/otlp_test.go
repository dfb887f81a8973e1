package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metricscol "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
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
			// Secrets in a path parameter, the query and user info before
			// the Host reach no span or label; a short token in the path
			// leaves the route (Go's server answers 400 to that Host).
			secretArgs := []string{"-s", "-o", "/dev/null", "-H", "Host: user:hpw-e2e@Otlp.Example",
				url + "/reset/secret123;jsessionid=sid-e2e?token=q-e2e"}
			if err := exec.Command("curl", secretArgs...).Run(); err != nil {
				t.Fatal(err)
			}
			status := func(s receivedSpan) bool {
				return strings.HasPrefix(attr(s.span.GetAttributes(), "url.path"), "/status/")
			}
			server := func(s receivedSpan) bool {
				return s.service == "otlp-go" && s.span.GetKind() == tracepb.Span_SPAN_KIND_SERVER && status(s)
			}
			client := func(s receivedSpan) bool {
				return s.service == "curl" && s.span.GetKind() == tracepb.Span_SPAN_KIND_CLIENT &&
					attr(s.span.GetAttributes(), "server.port") == fmt.Sprint(srv.port) && status(s)
			}
			secret := func(s receivedSpan) bool {
				return (s.service == "otlp-go" || s.service == "curl") && strings.HasPrefix(attr(s.span.GetAttributes(), "url.path"), "/reset/")
			}
			// Spans are held a second for stitching, then batched.
			deadline := time.Now().Add(10 * time.Second)
			for (len(rcv.find(server)) < 4 || len(rcv.find(client)) < 4 || len(rcv.find(secret)) < 2) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if got := rcv.find(secret); len(got) != 2 {
				t.Errorf("want the server and client spans of /reset/secret123, got %d", len(got))
			}
			for _, s := range rcv.find(secret) {
				a, server := s.span.GetAttributes(), s.span.GetKind() == tracepb.Span_SPAN_KIND_SERVER
				if attr(a, "url.path") != "/reset/secret123" || attr(a, "server.address") != "otlp.example" ||
					server && (s.span.GetName() != "GET /reset/{id}" || attr(a, "http.route") != "/reset/{id}") {
					t.Errorf("%s span of /reset/secret123: %v", s.service, s.span)
				}
				for _, kv := range a {
					for _, leak := range []string{"sid-e2e", "q-e2e", "hpw-e2e", "jsessionid"} {
						if strings.Contains(kv.GetValue().GetStringValue(), leak) {
							t.Errorf("%s span: %s = %q holds %q", s.service, kv.GetKey(), kv.GetValue().GetStringValue(), leak)
						}
					}
				}
			}
			if _, body := httpGet(t, "http://"+addr+"/metrics"); !strings.Contains(body, `http_route="/reset/{id}"`) ||
				!strings.Contains(body, `server_address="otlp.example"`) || strings.Contains(body, "hpw-e2e") || strings.Contains(body, "secret123") {
				t.Errorf("metrics: want http_route /reset/{id} and server_address otlp.example, no secret")
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
			if clients := rcv.find(client); len(clients) != 4 {
				_, body := httpGet(t, "http://"+addr+"/metrics")
				var diag []string
				for _, l := range strings.Split(body, "\n") {
					if (strings.Contains(l, "duration_seconds_count") && (strings.Contains(l, "curl") || strings.Contains(l, fmt.Sprint(srv.port)))) || strings.HasPrefix(l, "vigil_otlp") ||
						strings.HasPrefix(l, "vigil_events_lost") || strings.HasPrefix(l, "vigil_events_dropped") || strings.HasPrefix(l, "vigil_http_") {
						diag = append(diag, l)
					}
				}
				t.Errorf("want 4 client spans from curl, got %d; vigil says:\n%s", len(clients), strings.Join(diag, "\n"))
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

// TestNodeLocalChainIsOneTrace: curl -> python front -> Go backend, all on
// this node with no trace header anywhere: every request arrives at a real
// OTLP receiver as one trace of four linked spans.
func TestNodeLocalChainIsOneTrace(t *testing.T) {
	needTool(t, "curl")
	needTool(t, "python3")
	rcv, endpoint := startReceiver(t, "grpc")
	addr := freePort(t)
	v := startVigilEnv(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
		"vigil running", "run", "--listen", addr)
	defer v.stop()
	back := startServer(t, "chain-back", exec.Command(goServerBin))
	front := startServer(t, "chain-front", exec.Command("python3", "-c", fmt.Sprintf(`
import http.server, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        body = urllib.request.urlopen("http://127.0.0.1:%d/hello").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()`, back.port)))
	const n = 3
	for range n {
		if err := exec.Command("curl", "-sf", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/front", front.port)).Run(); err != nil {
			t.Fatal(err)
		}
	}
	byService := func(service string, kind tracepb.Span_SpanKind) []receivedSpan {
		return rcv.find(func(s receivedSpan) bool { return s.service == service && s.span.GetKind() == kind })
	}
	// Spans are held a second for stitching, then batched: wait until every
	// curl request's trace is complete (other tests' processes may be
	// traced too, so nothing is counted globally).
	frontPortStr := fmt.Sprint(front.port)
	idOf := func(b []byte) string { return fmt.Sprintf("%x", b) }
	complete := func() bool {
		roots := rcv.find(func(s receivedSpan) bool {
			return s.service == "curl" && attr(s.span.GetAttributes(), "server.port") == frontPortStr
		})
		if len(roots) < n {
			return false
		}
		for _, r := range roots {
			trace := idOf(r.span.GetTraceId())
			if len(rcv.find(func(s receivedSpan) bool { return idOf(s.span.GetTraceId()) == trace })) < 4 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(15 * time.Second)
	for !complete() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	frontPort := fmt.Sprint(front.port)
	var curlSpans []receivedSpan
	for _, s := range byService("curl", tracepb.Span_SPAN_KIND_CLIENT) {
		if attr(s.span.GetAttributes(), "server.port") == frontPort {
			curlSpans = append(curlSpans, s)
		}
	}
	if len(curlSpans) != n {
		t.Fatalf("curl spans to the front: %d, want %d", len(curlSpans), n)
	}
	id := func(b []byte) string { return fmt.Sprintf("%x", b) }
	for _, root := range curlSpans {
		trace := id(root.span.GetTraceId())
		inTrace := rcv.find(func(s receivedSpan) bool { return id(s.span.GetTraceId()) == trace })
		if len(inTrace) != 4 {
			t.Errorf("trace %s has %d spans, want 4 (curl, front server, front client, back server)", trace, len(inTrace))
			continue
		}
		parentOf := map[string]string{}
		kindOf := map[string]string{}
		for _, s := range inTrace {
			parentOf[id(s.span.GetSpanId())] = id(s.span.GetParentSpanId())
			kindOf[id(s.span.GetSpanId())] = s.service + "/" + s.span.GetKind().String()
		}
		// Walk from the back server span to the root.
		var chain []string
		for _, s := range inTrace {
			if s.service == "chain-back" {
				for cur := id(s.span.GetSpanId()); cur != "" && len(chain) < 5; cur = parentOf[cur] {
					chain = append(chain, kindOf[cur])
				}
			}
		}
		want := []string{"chain-back/SPAN_KIND_SERVER", "chain-front/SPAN_KIND_CLIENT", "chain-front/SPAN_KIND_SERVER", "curl/SPAN_KIND_CLIENT"}
		if fmt.Sprint(chain) != fmt.Sprint(want) {
			t.Errorf("trace %s: chain %v, want %v", trace, chain, want)
		}
	}
	// The service graph has both edges, each with the n requests made.
	_, body := httpGet(t, "http://"+addr+"/metrics")
	for _, edge := range []string{`{client="curl",server="chain-front"}`, `{client="chain-front",server="chain-back"}`} {
		if got := metricValue(t, body, "traces_service_graph_request_total"+edge); got != n {
			t.Errorf("service graph edge %s: %v requests, want %d", edge, got, n)
		}
	}
}

// TestOTLPReceiverSlowAndFailing: a receiver that answers 503 after a long
// pause. vigil keeps counting requests exactly, keeps /metrics responsive,
// counts the failed spans, and still stops within 2 s.
func TestOTLPReceiverSlowAndFailing(t *testing.T) {
	needTool(t, "curl")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	slow := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})}
	go slow.Serve(ln)
	t.Cleanup(func() { slow.Close() })

	addr := freePort(t)
	v := startVigilEnv(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + ln.Addr().String(),
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_TIMEOUT=1000",
	}, "vigil running", "run", "--listen", addr)
	defer v.stop()
	srv := startServer(t, "otlp-slow", exec.Command(goServerBin))
	for range 5 {
		if err := exec.Command("curl", "-s", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/hello", srv.port)).Run(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		start := time.Now()
		_, body := httpGet(t, "http://"+addr+"/metrics")
		if d := time.Since(start); d > time.Second {
			t.Errorf("/metrics took %v while the receiver stalls", d)
		}
		failed := metricValue(t, body, `vigil_otlp_spans_total{outcome="failed"}`)
		counted := histogramCounts(t, body, "http_server_request_duration_seconds", map[string]string{"service_name": "otlp-slow"})
		if failed >= 5 && counted[key{"GET", "200"}] == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed spans %v, requests counted %v", failed, counted)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metricsReceiver is an OTLP metrics receiver from the official protobufs.
type metricsReceiver struct {
	metricscol.UnimplementedMetricsServiceServer
	mu   sync.Mutex
	reqs []*metricscol.ExportMetricsServiceRequest
}

func (r *metricsReceiver) Export(_ context.Context, req *metricscol.ExportMetricsServiceRequest) (*metricscol.ExportMetricsServiceResponse, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return &metricscol.ExportMetricsServiceResponse{}, nil
}

// histogramCount is the count of the latest data point of metric whose
// attributes include want.
func (r *metricsReceiver) histogramCount(metric string, want map[string]string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var count uint64
	for _, req := range r.reqs {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != metric {
						continue
					}
					for _, dp := range m.GetHistogram().GetDataPoints() {
						ok := true
						for k, v := range want {
							ok = ok && attr(dp.GetAttributes(), k) == v
						}
						if ok {
							count = dp.GetCount() // later requests carry later, cumulative values
						}
					}
				}
			}
		}
	}
	return count
}

// TestOTLPMetricsMatchPrometheus: the RED histograms pushed over OTLP/gRPC
// carry the same counts /metrics shows.
func TestOTLPMetricsMatchPrometheus(t *testing.T) {
	needTool(t, "curl")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &metricsReceiver{}
	gs := grpc.NewServer()
	metricscol.RegisterMetricsServiceServer(gs, rcv)
	collectorpb.RegisterTraceServiceServer(gs, &receiver{})
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)

	addr := freePort(t)
	v := startVigilEnv(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + ln.Addr().String(),
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_METRIC_EXPORT_INTERVAL=500",
	}, "vigil running", "run", "--listen", addr)
	defer v.stop()
	srv := startServer(t, "otlp-metrics", exec.Command(goServerBin))
	for range 6 {
		if err := exec.Command("curl", "-s", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/status/404", srv.port)).Run(); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"service_name": "otlp-metrics", "http_response_status_code": "404"}
	deadline := time.Now().Add(15 * time.Second)
	for rcv.histogramCount("http_server_request_duration_seconds", want) != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("OTLP histogram count %d, want 6 (as curl made)", rcv.histogramCount("http_server_request_duration_seconds", want))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestOTLPFromConfigFile: the otlp section of the file does what the
// variables do.
func TestOTLPFromConfigFile(t *testing.T) {
	needTool(t, "curl")
	rcv, endpoint := startReceiver(t, "grpc")
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("otlp:\n  endpoint: "+endpoint+"\n  protocol: grpc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	v := startVigil(t, "vigil running", "run", "--config", cfg, "--listen", addr)
	defer v.stop()
	srv := startServer(t, "otlp-config", exec.Command(goServerBin))
	if err := exec.Command("curl", "-s", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/hello", srv.port)).Run(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.find(func(s receivedSpan) bool { return s.service == "otlp-config" })) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no span of otlp-config arrived")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
