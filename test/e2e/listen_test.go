package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

// A --listen address that cannot be bound is reported at once, before any
// program is loaded (the built-in rules take seconds to load), and the
// HTTP server answers while the agent starts: /healthz 200, /readyz 503
// until the agent runs.
func TestListenIsBoundBeforeLoading(t *testing.T) {
	bpftest.Require(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// In use; an address of no interface here (TEST-NET-1: binding fails
	// with no packet sent); a port out of range.
	for _, addr := range []string{busy.Addr().String(), "192.0.2.1:9464", "127.0.0.1:99999"} {
		start := time.Now()
		out, err := exec.Command(vigilBin, "run", "--listen", addr).CombinedOutput()
		took := time.Since(start)
		if err == nil || !strings.Contains(string(out), "listen") || !strings.Contains(string(out), addr) {
			t.Errorf("--listen %s: %v, output %q; want the listen error", addr, err, out)
		}
		if took > time.Second {
			t.Errorf("--listen %s: the error came after %v, want within 1 s", addr, took)
		}
	}

	addr := freePort(t)
	v := spawnVigil(t, nil, nil, "run", "--listen", addr)
	get := func(path string) int {
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get(fmt.Sprintf("http://%s%s", addr, path))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The server is up long before the rules' sensors are loaded.
	deadline := time.Now().Add(time.Second)
	for get("/healthz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/healthz does not answer within 1 s of the start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := get("/readyz"); code != http.StatusServiceUnavailable && code != http.StatusOK {
		t.Errorf("/readyz while starting: %d, want 503 (or 200 had the start already ended)", code)
	}
	v.waitReady("vigil running")
	if code := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz once running: %d, want 200", code)
	}
	if code := get("/metrics"); code != http.StatusOK {
		t.Errorf("/metrics once running: %d, want 200", code)
	}
	v.stop()
}
