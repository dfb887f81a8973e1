package export

import (
	"bytes"
	"encoding/json"
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

func TestWriterJSONLines(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, true)
	w.Handle(sample())
	w.Handle(sample())
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes before Flush", buf.Len())
	}
	w.Flush()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d", len(lines))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["kind"] != "exec" {
			t.Errorf("line %q: %v", l, err)
		}
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriterStopsOnError(t *testing.T) {
	w := NewWriter(failing{}, false)
	w.Handle(sample())
	w.Flush()
	w.Handle(sample())
	if w.Err() == nil {
		t.Error("want the write error")
	}
}
