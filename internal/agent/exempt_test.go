package agent_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/kernel"
)

// TestAgentIsNeverKilledOrDenied runs rules that kill a write of a file
// and deny connects to a port, in an agent that watches itself
// (ExcludeSelf false, as tests run it). The test process is that agent:
// it writes the file, connects and sends to the port, and lives, and its
// alerts say `alert`, what was done. A child doing the same is killed and
// refused: the rules are in force.
func TestAgentIsNeverKilledOrDenied(t *testing.T) {
	if _, err := kernel.Cgroup2Path(); err != nil {
		bpftest.SkipOrFail(t, "no cgroup v2 mount: "+err.Error())
	}
	agenttest.Python3(t)
	port := agenttest.Serve(t, func(c net.Conn) { c.Close() })
	s := agenttest.StartSecurityWatchingSelf(t, fmt.Sprintf(`
  - name: guard-file
    description: nothing writes the guarded file
    severity: critical
    events: [open]
    match:
      access: [write]
      path: {exact: [DIR/guarded]}
    action: kill
  - name: guard-port
    description: nothing reaches the guarded port
    severity: critical
    events: [connect]
    match:
      destination: {cidr: [127.0.0.1/32], ports: [%d]}
    action: deny
`, port))
	self := uint32(os.Getpid())
	guarded := filepath.Join(s.Dir, "guarded")

	// The agent itself. Were it killed, this test binary would end here.
	f, err := os.OpenFile(guarded, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("the agent's own connect: %v, want it let through", err)
	} else {
		c.Close()
	}
	u, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
		t.Errorf("the agent's own send: %v, want it let through", err)
	}

	mine := func(match func(*event.Event) bool) func(*event.Event) bool {
		return func(e *event.Event) bool { return e.Process.PID == self && match(e) }
	}
	if a := s.AlertFor("guard-file", mine(agenttest.PathIs(guarded))); a.Alert.Action != event.ActionAlert {
		t.Errorf("the agent's open: action %q, want alert", a.Alert.Action)
	}
	for _, typ := range []string{"SOCK_STREAM", "SOCK_DGRAM"} {
		a := s.AlertFor("guard-port", mine(func(e *event.Event) bool { return e.Net != nil && e.Net.Type == typ }))
		if a.Alert.Action != event.ActionAlert || a.Alert.Event.Net.Result == -int64(syscall.EPERM) {
			t.Errorf("the agent's %s connect: action %q, result %d: want alert, not refused", typ, a.Alert.Action, a.Alert.Event.Net.Result)
		}
	}

	// A child is not spared.
	if st := s.Sh("echo x > DIR/guarded; touch DIR/after"); !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Errorf("a child writing the file: status %v, want killed by SIGKILL", st)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "after")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the child went on after the kill: %v", err)
	}
	if got := agenttest.Connect(t, port); got != fmt.Sprintf("errno %d", syscall.EPERM) {
		t.Errorf("a child's connect: %q, want errno %d (EPERM)", got, syscall.EPERM)
	}
	if a := s.AlertFor("guard-port", func(e *event.Event) bool { return e.Process.PID != self }); a.Alert.Action != event.ActionDeny {
		t.Errorf("the child's connect: action %q, want deny", a.Alert.Action)
	}
}
