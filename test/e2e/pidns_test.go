package e2e

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestRunInAPIDNamespaceSparesItself runs vigil as a container runs it:
// in a pid namespace of its own, with that namespace's /proc, where its
// getpid() is 1. A rule kills whatever connects to the OTLP receiver, and
// vigil itself connects there to export the spans of an HTTP exchange.
// vigil must know itself by its pid on the node: it lives, the spans
// arrive, it reports nothing of its own (no alert, no span of its export),
// and a curl connecting to the receiver is killed, so the rule is in force.
func TestRunInAPIDNamespaceSparesItself(t *testing.T) {
	needTool(t, "curl")
	needTool(t, "unshare")
	rcv, endpoint := startReceiver(t, "http/protobuf")
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	dir := varLibDir(t, "vigil-e2e-pidns-")
	rules := filepath.Join(dir, "self-kill-connect.yaml")
	os.WriteFile(rules, []byte(fmt.Sprintf(`rules:
  - name: no-collector
    description: nothing connects to the collector
    severity: critical
    events: [connect]
    match:
      destination: {cidr: [127.0.0.1/32], ports: ["%s"]}
    action: kill
`, u.Port())), 0o644)
	alerts := filepath.Join(dir, "alerts.json")
	addr := freePort(t)
	v := startVigilUnder(t, []string{"unshare", "--pid", "--kill-child", "--mount-proc"}, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
	}, "vigil running", "run", "--listen", addr, "--no-default-rules", "--rules", rules, "--alerts-file", alerts)
	if !strings.Contains(v.stderr.String(), "/proc is a pid namespace's, not the node's") {
		t.Errorf("no warning about the namespace's /proc; stderr: %s", v.stderr)
	}

	srv := startServer(t, "pidns-go", exec.Command(goServerBin))
	if err := exec.Command("curl", "-s", "-o", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/status/200", srv.port)).Run(); err != nil {
		t.Fatal(err)
	}
	served := func(s receivedSpan) bool {
		return s.span.GetKind() == tracepb.Span_SPAN_KIND_SERVER && attr(s.span.GetAttributes(), "server.port") == fmt.Sprint(srv.port)
	}
	// Spans are held a second for stitching, then batched and sent.
	alive := func() bool { return v.vigil.Signal(syscall.Signal(0)) == nil }
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.find(served)) == 0 && time.Now().Before(deadline) && alive() {
		time.Sleep(50 * time.Millisecond)
	}
	if !alive() {
		v.cmd.Wait()
		t.Fatalf("vigil died (%v), killed at its own connect to the receiver; stderr: %s", v.cmd.ProcessState, v.stderr)
	}
	if len(rcv.find(served)) == 0 {
		t.Fatalf("no span reached the receiver; stderr: %s", v.stderr)
	}

	curl := exec.Command("curl", "-s", "-o", "/dev/null", endpoint+"/v1/traces")
	curl.Run()
	if st, ok := curl.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Errorf("curl connecting to the receiver: %v, want killed by SIGKILL", curl.ProcessState)
	}
	curlPID := uint32(curl.Process.Pid)
	var got []alertLine
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = readAlerts(t, alerts); len(got) > 0 && got[len(got)-1].Process.PID == curlPID {
			break
		}
	}
	v.stop()
	got = readAlerts(t, alerts)
	killed := 0
	for _, a := range got {
		switch {
		case a.Process.PID == uint32(v.vigil.Pid) || a.Process.Comm == "vigil":
			t.Errorf("an alert about vigil itself: %+v", a)
		case a.Process.PID == curlPID && a.Rule == "no-collector" && a.Action == "kill":
			killed++
		}
	}
	if killed != 1 {
		t.Errorf("%d kill alerts for curl, want 1; alerts: %+v", killed, got)
	}
	if own := rcv.find(func(s receivedSpan) bool { return s.service == "vigil" }); len(own) > 0 {
		t.Errorf("%d spans of vigil's own export: it watched itself", len(own))
	}
}
