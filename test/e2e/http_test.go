package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

// server is a real HTTP server started by a test.
type server struct {
	name    string // OTEL_SERVICE_NAME it runs with
	port    int
	chunked bool // serves /chunked
	echo    bool // answers POST /echo
}

// startServer runs cmd, which prints its port on the first line of stdout.
func startServer(t *testing.T, name string, cmd *exec.Cmd) server {
	t.Helper()
	cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: no port line: %v", name, err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("%s: port line %q", name, line)
	}
	go io.Copy(io.Discard, out)
	return server{name: name, port: port, chunked: true, echo: true}
}

func needTool(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		bpftest.SkipOrFail(t, tool+" is not installed (scripts/setup.sh installs it)")
	}
}

func startNginx(t *testing.T) server {
	t.Helper()
	needTool(t, "nginx")
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.MkdirAll(filepath.Join(www, "status"), 0o755)
	os.WriteFile(filepath.Join(www, "hello"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(www, "big"), bytes.Repeat([]byte("x"), 300000), 0o644)
	port := freeTCPPort(t)
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
env OTEL_SERVICE_NAME;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 10000;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[2]d;
    root %[3]s;
    location = /status/404 { return 404; }
    location = /status/503 { return 503; }
  }
}
`, dir, port, www)
	confPath := filepath.Join(dir, "nginx.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	cmd := exec.Command("nginx", "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME=e2e-nginx")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	waitListening(t, port)
	return server{name: "e2e-nginx", port: port}
}

func freeTCPPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// key is one label set of the server duration histogram that the test checks.
type key struct {
	method string
	status string
}

// workload drives srv with real clients and returns how many requests of
// each method and status the clients themselves reported, per client.
// clientTimes are the durations the clients measured themselves, summed.
type clientTimes struct {
	curl, goClient, pipelined time.Duration
}

func workload(t *testing.T, srv server) (serverSeen, curlSeen, goSeen map[key]int, times clientTimes) {
	t.Helper()
	base := fmt.Sprintf("http://127.0.0.1:%d", srv.port)
	serverSeen, curlSeen, goSeen = map[key]int{}, map[key]int{}, map[key]int{}

	// curl, one keep-alive connection per invocation; it prints each status.
	urls := []string{}
	for range 5 {
		urls = append(urls, base+"/hello")
	}
	urls = append(urls, base+"/status/404", base+"/status/404", base+"/status/404", base+"/status/503", base+"/status/503",
		base+"/big?n=300000", base+"/big?n=300000")
	if srv.chunked {
		urls = append(urls, base+"/chunked?n=50000", base+"/chunked?n=50000")
	}
	args := []string{"-s", "-o", "/dev/null"}
	for range urls[1:] {
		args = append(args, "-o", "/dev/null")
	}
	args = append(args, "-w", "%{http_code} %{time_total}\n")
	args = append(args, urls...)
	out, err := exec.Command("curl", args...).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	// curlLine counts one "<status> <seconds>" line of curl -w.
	curlLine := func(method, line string) {
		var code string
		var secs float64
		if _, err := fmt.Sscan(line, &code, &secs); err != nil {
			t.Fatalf("curl -w output %q: %v", line, err)
		}
		serverSeen[key{method, code}]++
		curlSeen[key{method, code}]++
		times.curl += time.Duration(secs * float64(time.Second))
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		curlLine("GET", line)
	}

	if srv.echo {
		// A 100 KiB upload: curl sends it with Expect: 100-continue.
		body := filepath.Join(t.TempDir(), "body")
		os.WriteFile(body, bytes.Repeat([]byte("u"), 100<<10), 0o644)
		for range 2 {
			out, err := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}\n", "-H", "Expect: 100-continue",
				"--data-binary", "@"+body, base+"/echo").Output()
			if err != nil {
				t.Fatalf("curl POST: %v", err)
			}
			curlLine("POST", strings.TrimSpace(string(out)))
		}
	}

	// Go's net/http client, keep-alive, from this test process.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/hello", "/hello", "/status/404", "/big?n=70000", "/hello"} {
		start := time.Now()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("go client: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		times.goClient += time.Since(start)
		serverSeen[key{"GET", strconv.Itoa(resp.StatusCode)}]++
		goSeen[key{"GET", strconv.Itoa(resp.StatusCode)}]++
	}

	// Pipelining: three requests in one write, three responses read back.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", srv.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /hello HTTP/1.1\r\nHost: e2e\r\n\r\n"
	pipeStart := time.Now()
	if _, err := io.WriteString(conn, req+req+req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for range 3 {
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("pipelined response: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		serverSeen[key{"GET", strconv.Itoa(resp.StatusCode)}]++
		goSeen[key{"GET", strconv.Itoa(resp.StatusCode)}]++
	}
	// Each pipelined exchange lies within the whole pipelined exchange.
	times.pipelined = 3 * time.Since(pipeStart)
	return serverSeen, curlSeen, goSeen, times
}

// histogramSum sums a histogram's sample sums over the series matching want.
func histogramSum(t *testing.T, body, metric string, want map[string]string) time.Duration {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	var sum float64
	for _, m := range families[metric].GetMetric() {
		labels := labelMap(m)
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return time.Duration(sum * float64(time.Second))
}

// histogramCounts sums a histogram's sample counts by method and status for
// the series matching want (label name -> value).
func histogramCounts(t *testing.T, body, metric string, want map[string]string) map[key]int {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	got := map[key]int{}
	fam := families[metric]
	if fam == nil {
		return got
	}
	for _, m := range fam.GetMetric() {
		labels := labelMap(m)
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			got[key{labels["http_request_method"], labels["http_response_status_code"]}] += int(m.GetHistogram().GetSampleCount())
		}
	}
	return got
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func format(m map[key]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %s: %d", k.method, k.status, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func equal(a, b map[key]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestHTTPMetricsExactAcrossServers runs vigil, four real servers and real
// clients, and checks that every request count in /metrics equals what the
// clients themselves report.
func TestHTTPMetricsExactAcrossServers(t *testing.T) {
	needTool(t, "curl")
	addr := freePort(t)
	v := startVigil(t, "vigil running", "run", "--listen", addr)
	defer v.stop()

	var servers []server
	servers = append(servers, startServer(t, "e2e-go", exec.Command(goServerBin)))
	if _, err := exec.LookPath("python3"); err == nil {
		servers = append(servers, startServer(t, "e2e-python", exec.Command("python3", "servers/server.py")))
	} else {
		bpftest.SkipOrFail(t, "python3 is not installed")
	}
	if _, err := exec.LookPath("node"); err == nil {
		servers = append(servers, startServer(t, "e2e-node", exec.Command("node", "servers/server.js")))
	} else {
		bpftest.SkipOrFail(t, "node is not installed")
	}
	servers = append(servers, startNginx(t))

	type expectation struct {
		srv                   server
		serverSeen, curl, goc map[key]int
		times                 clientTimes
	}
	var exps []expectation
	for _, srv := range servers {
		s, c, g, times := workload(t, srv)
		exps = append(exps, expectation{srv, s, c, g, times})
	}
	self := filepath.Base(os.Args[0]) // this test binary is the Go client

	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := httpGet(t, "http://"+addr+"/metrics")
		allOK := true
		var report []string
		for _, e := range exps {
			port := strconv.Itoa(e.srv.port)
			gotServer := histogramCounts(t, body, "http_server_request_duration_seconds", map[string]string{"service_name": e.srv.name, "server_port": port})
			gotCurl := histogramCounts(t, body, "http_client_request_duration_seconds", map[string]string{"service_name": "curl", "server_port": port})
			gotGo := histogramCounts(t, body, "http_client_request_duration_seconds", map[string]string{"service_name": self, "server_port": port})
			if !equal(gotServer, e.serverSeen) || !equal(gotCurl, e.curl) || !equal(gotGo, e.goc) {
				allOK = false
				report = append(report, fmt.Sprintf("%s server side: vigil {%s}, clients {%s}; curl side: vigil {%s}, curl {%s}; Go client: vigil {%s}, client {%s}",
					e.srv.name, format(gotServer), format(e.serverSeen), format(gotCurl), format(e.curl), format(gotGo), format(e.goc)))
			}
		}
		if allOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request counts differ:\n%s", strings.Join(report, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, body := httpGet(t, "http://"+addr+"/metrics")
	// Durations: what vigil measured for each side lies within what the
	// clients measured themselves.
	for _, e := range exps {
		port := strconv.Itoa(e.srv.port)
		srvSum := histogramSum(t, body, "http_server_request_duration_seconds", map[string]string{"service_name": e.srv.name, "server_port": port})
		curlSum := histogramSum(t, body, "http_client_request_duration_seconds", map[string]string{"service_name": "curl", "server_port": port})
		clientsTotal := e.times.curl + e.times.goClient + e.times.pipelined
		if srvSum <= 0 || srvSum > clientsTotal {
			t.Errorf("%s: server durations sum to %v, clients measured %v", e.srv.name, srvSum, clientsTotal)
		}
		if curlSum <= 0 || curlSum > e.times.curl {
			t.Errorf("%s: curl's durations sum to %v in vigil, curl measured %v", e.srv.name, curlSum, e.times.curl)
		}
	}
	for _, s := range []string{`vigil_events_lost_total{source="sockdata"}`, `vigil_events_lost_total{source="process"}`, `vigil_events_dropped_total{stage="http_orphan_data"}`} {
		if n := metricValue(t, body, s); n != 0 {
			t.Errorf("%s = %v", s, n)
		}
	}
}

// TestMalformedAndNonHTTPTraffic sends binary and malformed traffic to a
// real server vigil watches: it is counted, the valid request next to it
// is still counted exactly, and vigil stays healthy.
func TestMalformedAndNonHTTPTraffic(t *testing.T) {
	addr := freePort(t)
	v := startVigil(t, "vigil running", "run", "--listen", addr)
	defer v.stop()
	srv := startServer(t, "e2e-malformed", exec.Command(goServerBin))
	metricsURL := "http://" + addr + "/metrics"
	_, before := httpGet(t, metricsURL)
	otherBefore := metricValue(t, before, `vigil_http_connections_total{protocol="other"}`)
	parseBefore := 0.0
	for _, r := range []string{"unknown", "desync", "incomplete", "unanswered", "orphan_response"} {
		parseBefore += metricValue(t, before, fmt.Sprintf(`vigil_http_parse_errors_total{reason=%q}`, r))
	}

	send := func(payload string) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", srv.port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte(payload))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, c) // until the server closes or the deadline
	}
	// A TLS ClientHello-like start: not HTTP, never captured.
	send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 64))
	// A valid request, then bytes that are no HTTP at all on the same
	// keep-alive connection; the server answers 400 and closes.
	send("GET /hello HTTP/1.1\r\nHost: e2e\r\n\r\n\x00\x01\x02 garbage \xff\xfe\r\n\r\n")
	// A request whose framing is invalid.
	send("POST /echo HTTP/1.1\r\nHost: e2e\r\nContent-Length: 12abc\r\n\r\nhello")

	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := httpGet(t, metricsURL)
		parse := 0.0
		for _, r := range []string{"unknown", "desync", "incomplete", "unanswered", "orphan_response"} {
			parse += metricValue(t, body, fmt.Sprintf(`vigil_http_parse_errors_total{reason=%q}`, r))
		}
		other := metricValue(t, body, `vigil_http_connections_total{protocol="other"}`)
		ok200 := histogramCounts(t, body, "http_server_request_duration_seconds",
			map[string]string{"service_name": "e2e-malformed", "http_request_method": "GET", "http_response_status_code": "200"})
		if code == 200 && other > otherBefore && parse > parseBefore && ok200[key{"GET", "200"}] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("other connections %v -> %v, parse errors %v -> %v, valid GETs %v", otherBefore, other, parseBefore, parse, ok200)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, _ := httpGet(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("healthz %d after malformed traffic", code)
	}
}
