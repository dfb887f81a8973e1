// Package agenttest holds what the kernel tests of a running agent share:
// a sink that records every event, an agent started for a test (and closed,
// with the leak check, when it ends), and for the rules' tests an agent
// running rules with a barrier, a scratch directory and the commands that
// cause real activity.
//
// It is imported by tests only: the tests of internal/agent and those of
// the sensors (as external test packages, file_test and the like, which may
// import the agent that imports their sensor). Production code must not
// import it.
package agenttest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/agent"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
)

// Recorder is a sink that keeps deep copies of events.
type Recorder struct {
	mu  sync.Mutex
	evs []event.Event
}

// Handle records a deep copy of ev.
func (r *Recorder) Handle(ev *event.Event) {
	c := *ev
	c.Process.Args = slices.Clone(ev.Process.Args)
	c.Ancestors = slices.Clone(ev.Ancestors)
	switch {
	case ev.Exec != nil:
		x := *ev.Exec
		c.Exec = &x
	case ev.Exit != nil:
		x := *ev.Exit
		c.Exit = &x
	case ev.Fork != nil:
		x := *ev.Fork
		c.Fork = &x
	case ev.HTTP != nil:
		x := *ev.HTTP
		c.HTTP = &x
	}
	cloneSecurity(&c, ev)
	r.mu.Lock()
	r.evs = append(r.evs, c)
	r.mu.Unlock()
}

// Events returns the events recorded so far, in order. They are the
// recorder's copies: read them, do not change them.
func (r *Recorder) Events() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// cloneSecurity deep-copies the security parts of an event into c.
func cloneSecurity(c *event.Event, ev *event.Event) {
	ptr := func(p *int64) *int64 {
		if p == nil {
			return nil
		}
		v := *p
		return &v
	}
	switch {
	case ev.File != nil:
		f := *ev.File
		f.Flags = slices.Clone(f.Flags)
		f.UID, f.GID = ptr(f.UID), ptr(f.GID)
		if f.Mode != nil {
			m := *f.Mode
			f.Mode = &m
		}
		c.File = &f
	case ev.Net != nil:
		n := *ev.Net
		if n.Local != nil {
			l := *n.Local
			n.Local = &l
		}
		if n.Peer != nil {
			p := *n.Peer
			n.Peer = &p
		}
		n.NewFD = ptr(n.NewFD)
		c.Net = &n
	case ev.Priv != nil:
		p := *ev.Priv
		p.IDs = slices.Clone(p.IDs)
		c.Priv = &p
	case ev.Alert != nil:
		a := *ev.Alert
		inner := *ev.Alert.Event
		inner.Process.Args = slices.Clone(inner.Process.Args)
		inner.Ancestors = slices.Clone(inner.Ancestors)
		cloneSecurity(&inner, ev.Alert.Event)
		if ev.Alert.Event.Exec != nil {
			x := *ev.Alert.Event.Exec
			inner.Exec = &x
		}
		a.Event = &inner
		c.Alert = &a
	}
}

// StartAgent runs an agent whose events go to the returned recorder.
func StartAgent(t *testing.T, opts agent.Options) *Recorder {
	t.Helper()
	rec, _ := RunAgent(t, opts)
	return rec
}

// RunAgent is StartAgent for tests that reach into the agent too; before
// is called, if set, before the agent runs. The agent stops and closes
// when the test ends, and nothing it loaded may stay in the kernel.
func RunAgent(t *testing.T, opts agent.Options, before ...func(*agent.Agent)) (*Recorder, *agent.Agent) {
	t.Helper()
	bpftest.Require(t)
	leaks := bpftest.NewLeakCheck(t)
	rec := &Recorder{}
	opts.Sinks = append(opts.Sinks, rec)
	a, err := agent.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range before {
		f(a)
	}
	leaks.Record()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent run: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("agent close: %v", err)
		}
	})
	return rec, a
}

// WaitFor returns the first recorded event that satisfies match, waiting
// up to 10 s for it; without one the test fails with "no " + what.
func WaitFor(t *testing.T, rec *Recorder, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rec.mu.Lock()
		for i := range rec.evs {
			if match(&rec.evs[i]) {
				ev := rec.evs[i]
				rec.mu.Unlock()
				return &ev
			}
		}
		rec.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s", what)
	return nil
}

// WaitEvent waits for the first event of kind of the process pid.
func WaitEvent(t *testing.T, rec *Recorder, kind event.Kind, pid uint32) *event.Event {
	t.Helper()
	return WaitFor(t, rec, fmt.Sprintf("%s event for pid %d", kind, pid), func(e *event.Event) bool {
		return e.Kind == kind && e.Process.PID == pid
	})
}

// Serve runs a loopback TCP server until the test ends, handing each
// connection it accepts to handle on a goroutine of its own, and returns
// its port.
func Serve(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
