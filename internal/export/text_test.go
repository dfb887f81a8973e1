package export

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/event"
)

func sample() *event.Event {
	return &event.Event{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.Local), Kind: event.KindExec,
		Process: event.Process{PID: 42, PPID: 1, Comm: "sh", Exe: "/usr/bin/dash", Args: []string{"sh", "-c", "exit 3", ""}, Cwd: "/my dir",
			ContainerID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		Exec: &event.Exec{Filename: "/bin/sh", ArgsTruncated: true},
	}
}

func TestFormatText(t *testing.T) {
	got := FormatText(sample())
	want := `03:04:05.600000 exec       42 sh              /usr/bin/dash sh -c "exit 3" '' [...] ppid=1 uid=0 cwd="/my dir" container=0123456789ab`
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	x := &event.Event{Time: time.Now(), Kind: event.KindExit, Process: event.Process{PID: 1, Comm: "a"}, Exit: &event.Exit{Signal: 11, CoreDumped: true, DurationNs: 1500}}
	if got := FormatText(x); !strings.HasSuffix(got, "signal=11 (core dumped) duration=2µs") {
		t.Errorf("exit line: %s", got)
	}
}

// The trace command's text lines go through the queued writer like
// alerts do: one FormatText line each.
func TestQueuedWriterTextLines(t *testing.T) {
	var buf bytes.Buffer
	w := NewQueuedWriter(&buf, 10, all, TextLine)
	w.Handle(sample())
	w.Handle(sample())
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := FormatText(sample()) + "\n"
	if buf.String() != want+want {
		t.Errorf("wrote\n%s\nwant twice\n%s", buf.String(), want)
	}
}

// An event that cannot be encoded is dropped and reported; the others
// are still written.
func TestQueuedWriterSkipsWhatItCannotEncode(t *testing.T) {
	var buf bytes.Buffer
	bad := errors.New("no encoding for this one")
	w := NewQueuedWriter(&buf, 10, all, func(ev *event.Event) ([]byte, error) {
		if ev.Process.PID == 1 {
			return nil, bad
		}
		return JSONLine(ev)
	})
	for pid := range 3 {
		w.Handle(eventWithPID(pid, 1))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := pids(t, buf.Bytes()); len(got) != 2 || got[0] != 0 || got[1] != 2 || w.Dropped() != 1 || !errors.Is(w.Err(), bad) {
		t.Errorf("pids %v, dropped %d, Err %v", got, w.Dropped(), w.Err())
	}
}
