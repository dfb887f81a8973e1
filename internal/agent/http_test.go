package agent_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/agent"
	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/selector"
)

func listen(t *testing.T) (net.Listener, uint16) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, uint16(ln.Addr().(*net.TCPAddr).Port)
}

func curl(t *testing.T, url string, args ...string) {
	t.Helper()
	args = append([]string{"-sS", "-o", "/dev/null"}, append(args, url)...)
	if out, err := exec.Command("curl", args...).CombinedOutput(); err != nil {
		t.Fatalf("curl %s: %v %s", url, err, out)
	}
}

// count returns the http events of side whose server port is port.
func count(rec *agenttest.Recorder, side string, port uint16, comm string) int {
	n := 0
	for _, ev := range rec.Events() {
		if ev.Kind != event.KindHTTP || ev.HTTP.Side != side || (comm != "" && ev.Process.Comm != comm) {
			continue
		}
		serverPort := ev.HTTP.Local.Port
		if side == event.SideClient {
			serverPort = ev.HTTP.Peer.Port
		}
		if serverPort == port {
			n++
		}
	}
	return n
}

// TestHTTPSelectionInKernel: select ports A and C, exclude python. The Go
// server on A is seen; the one on B is not; python on C is excluded, but
// curl's requests to it are selected by port.
func TestHTTPSelectionInKernel(t *testing.T) {
	for _, tool := range []string{"curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			bpftest.SkipOrFail(t, tool+" is not installed")
		}
	}
	lnA, portA := listen(t)
	lnB, portB := listen(t)
	lnC, portC := listen(t)
	lnC.Close() // python binds it
	sel, err := selector.New(selector.Rules{Ports: []uint16{portA, portC}}, selector.Rules{Executables: []string{"python3*"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := agenttest.StartAgent(t, agent.Options{HTTP: &agent.HTTPOptions{Selector: sel}})

	for _, ln := range []net.Listener{lnA, lnB} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	py := exec.Command("python3", "-c", fmt.Sprintf(`
import http.server, sys
srv = http.server.HTTPServer(("127.0.0.1", %d), http.server.SimpleHTTPRequestHandler)
print("ready", flush=True)
srv.serve_forever()`, portC))
	py.Dir = t.TempDir()
	out, _ := py.StdoutPipe()
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { py.Process.Kill(); py.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); !strings.HasPrefix(line, "ready") {
		t.Fatalf("python: %q", line)
	}

	for _, port := range []uint16{portA, portB, portC} {
		for range 3 {
			curl(t, fmt.Sprintf("http://127.0.0.1:%d/x", port))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(rec, event.SideClient, portC, "curl") < 3 || count(rec, event.SideServer, portA, "") < 3 {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // anything unwanted would have come by now
	for _, c := range []struct {
		side string
		port uint16
		comm string
		want int
	}{
		{event.SideServer, portA, "", 3},
		{event.SideClient, portA, "curl", 3},
		{event.SideServer, portB, "", 0},
		{event.SideClient, portB, "curl", 0},
		{event.SideServer, portC, "", 0},
		{event.SideClient, portC, "curl", 3},
	} {
		if got := count(rec, c.side, c.port, c.comm); got != c.want {
			t.Errorf("%s events for port %d: got %d, want %d", c.side, c.port, got, c.want)
		}
	}
}

// TestHTTPEventFields checks one exchange end to end through the agent.
func TestHTTPEventFields(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		bpftest.SkipOrFail(t, "curl is not installed")
	}
	rec := agenttest.StartAgent(t, agent.Options{HTTP: &agent.HTTPOptions{}})
	ln, port := listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	start := time.Now()
	curl(t, fmt.Sprintf("http://127.0.0.1:%d/users/12345/orders?token=secret", port),
		"-H", "traceparent: 00-"+traceID+"-"+parentID+"-01")
	elapsed := time.Since(start)

	ev := agenttest.WaitFor(t, rec, "server http event", func(e *event.Event) bool {
		return e.Kind == event.KindHTTP && e.HTTP.Side == event.SideServer && e.HTTP.Local.Port == port
	})
	h := ev.HTTP
	if h.Method != "GET" || h.Path != "/users/12345/orders" || h.Route != "/users/{id}/orders" || h.Status != 418 ||
		h.ResponseBodyBytes != uint64(len("short and stout")) || h.Host != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Errorf("http fields: %+v", *h)
	}
	if d := time.Duration(h.DurationNs); d < 20*time.Millisecond || d > elapsed {
		t.Errorf("server duration %v: want between the handler's 20ms and curl's %v", d, elapsed)
	}
	if ev.Process.Service == "" || ev.Process.Exe == "" || h.Peer.Addr != "127.0.0.1" {
		t.Errorf("process/peer: %+v %+v", ev.Process, h.Peer)
	}
	if h.TraceID != traceID || h.ParentSpanID != parentID || len(h.SpanID) != 16 {
		t.Errorf("server span: trace %s parent %s span %s", h.TraceID, h.ParentSpanID, h.SpanID)
	}
	cl := agenttest.WaitFor(t, rec, "client http event", func(e *event.Event) bool {
		return e.Kind == event.KindHTTP && e.HTTP.Side == event.SideClient && e.HTTP.Peer.Port == port
	})
	if cl.Process.Comm != "curl" || cl.HTTP.Status != 418 || cl.HTTP.DurationNs < h.DurationNs {
		t.Errorf("client event: comm %q status %d duration %d (server %d)", cl.Process.Comm, cl.HTTP.Status, cl.HTTP.DurationNs, h.DurationNs)
	}
	// curl sent the header: its span is the one the header names.
	if cl.HTTP.TraceID != traceID || cl.HTTP.SpanID != parentID {
		t.Errorf("client span: trace %s span %s", cl.HTTP.TraceID, cl.HTTP.SpanID)
	}
}
