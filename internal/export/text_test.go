package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	want := `03:04:05.600000 exec         42 sh              /usr/bin/dash sh -c "exit 3" '' [...] ppid=1 uid=0 cwd="/my dir" container=0123456789ab`
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	x := &event.Event{Time: time.Now(), Kind: event.KindExit, Process: event.Process{PID: 1, Comm: "a"}, Exit: &event.Exit{Signal: 11, CoreDumped: true, DurationNs: 1500}}
	if got := FormatText(x); !strings.HasSuffix(got, "signal=11 (core dumped) duration=2µs") {
		t.Errorf("exit line: %s", got)
	}
}

// Every kind has a line of its own, with what matters of it; an alert
// says severity, action and rule, then the triggering event's line.
func TestFormatTextEveryKind(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	ev := func(k event.Kind) event.Event {
		return event.Event{Time: at, Kind: k, Process: event.Process{PID: 7, Comm: "cat"}}
	}
	mode, uid, gid, newFD := uint32(0o4755), int64(0), int64(-1), int64(1)
	local := &event.Endpoint{Addr: "127.0.0.1", Port: 8080}
	peer := &event.Endpoint{Addr: "2001:db8::1", Port: 443}
	cases := map[event.Kind]func(e *event.Event) string{
		event.KindOpen: func(e *event.Event) string {
			e.File = &event.File{Path: "/etc/shadow", Access: "read", Flags: []string{"O_RDONLY"}, Result: 3}
			return "/etc/shadow read O_RDONLY fd=3"
		},
		event.KindUnlink: func(e *event.Event) string {
			e.File = &event.File{Path: "/tmp/d", Dir: true, Result: -39}
			return "/tmp/d dir = -39 ENOTEMPTY"
		},
		event.KindRename:  func(e *event.Event) string { e.File = &event.File{Path: "/a", NewPath: "/b c"}; return `/a -> "/b c"` },
		event.KindLink:    func(e *event.Event) string { e.File = &event.File{Path: "/l", Target: "/t"}; return "/l -> /t" },
		event.KindSymlink: func(e *event.Event) string { e.File = &event.File{Path: "/l", Target: "../t"}; return "/l -> ../t" },
		event.KindChmod:   func(e *event.Event) string { e.File = &event.File{Path: "/w", Mode: &mode}; return "/w mode=04755" },
		event.KindChown: func(e *event.Event) string {
			e.File = &event.File{Path: "/w", UID: &uid, GID: &gid, Result: -1}
			return "/w uid=0 gid=-1 = -1 EPERM"
		},
		event.KindMount: func(e *event.Event) string {
			e.File = &event.File{Path: "/mnt", Source: "none", FSType: "cgroup", Flags: []string{"MS_BIND"}}
			return "none on /mnt type cgroup MS_BIND"
		},
		event.KindConnect: func(e *event.Event) string {
			e.Net = &event.Net{Family: "AF_INET6", Type: "SOCK_STREAM", Peer: peer, FD: 3, Result: -111}
			return "AF_INET6 SOCK_STREAM -> [2001:db8::1]:443 fd=3 = -111 ECONNREFUSED"
		},
		event.KindAccept: func(e *event.Event) string {
			e.Net = &event.Net{Family: "AF_INET", Type: "SOCK_STREAM", Local: local, Peer: &event.Endpoint{Addr: "127.0.0.1", Port: 5000}, FD: 5, Result: 5}
			return "AF_INET SOCK_STREAM 127.0.0.1:8080 <- 127.0.0.1:5000 fd=5"
		},
		event.KindBind: func(e *event.Event) string {
			e.Net = &event.Net{Family: "AF_INET", Local: local, FD: 4}
			return "AF_INET on 127.0.0.1:8080 fd=4"
		},
		event.KindListen: func(e *event.Event) string {
			e.Net = &event.Net{Family: "AF_INET", Local: local, FD: 4}
			return "AF_INET on 127.0.0.1:8080 fd=4"
		},
		event.KindSocket: func(e *event.Event) string {
			e.Net = &event.Net{Family: "AF_PACKET", Type: "SOCK_RAW", Protocol: 768, FD: 6, Result: 6}
			return "AF_PACKET SOCK_RAW protocol=768 fd=6"
		},
		event.KindDup: func(e *event.Event) string {
			e.Net = &event.Net{Family: "AF_INET", Type: "SOCK_STREAM", FD: 3, NewFD: &newFD, Result: 1}
			return "AF_INET SOCK_STREAM fd 3 -> 1"
		},
		event.KindSetuid: func(e *event.Event) string {
			e.Priv = &event.Priv{Syscall: "setresuid", IDs: []int64{0, -1, -1}}
			return "setresuid 0,-1,-1"
		},
		event.KindSetgid: func(e *event.Event) string {
			e.Priv = &event.Priv{Syscall: "setgid", IDs: []int64{0}, Result: -1}
			return "setgid 0 = -1 EPERM"
		},
		event.KindCapset: func(e *event.Event) string {
			e.Priv = &event.Priv{Syscall: "capset", Effective: []string{"CAP_SYS_ADMIN"}}
			return "capset effective=CAP_SYS_ADMIN permitted=none"
		},
		event.KindPtrace: func(e *event.Event) string {
			e.Priv = &event.Priv{Syscall: "ptrace", Request: "PTRACE_ATTACH", TargetPID: 99}
			return "ptrace PTRACE_ATTACH target=99"
		},
		event.KindModule: func(e *event.Event) string {
			e.Priv = &event.Priv{Syscall: "finit_module", Path: "/m.ko"}
			return "finit_module /m.ko"
		},
		event.KindMemfd: func(e *event.Event) string {
			e.Priv = &event.Priv{Syscall: "memfd_create", Name: "x", Flags: []string{"MFD_CLOEXEC"}, Result: 3}
			return "memfd_create x MFD_CLOEXEC"
		},
		event.KindBPF: func(e *event.Event) string {
			e.Priv = &event.Priv{Syscall: "bpf", Cmd: "BPF_PROG_LOAD"}
			return "bpf BPF_PROG_LOAD"
		},
	}
	for _, k := range event.AllKinds {
		fill, ok := cases[k]
		if !ok {
			continue // exec, exit, fork, http and alert: their own tests
		}
		e := ev(k)
		detail := fill(&e)
		prefix := fmt.Sprintf("03:04:05.000000 %-7s       7 cat             ", k)
		if got, want := FormatText(&e), prefix+detail; got != want {
			t.Errorf("%s:\n got %s\nwant %s", k, got, want)
		}
		a := ev(event.KindAlert)
		a.Alert = &event.Alert{Rule: "r", Severity: event.SeverityHigh, Action: event.ActionKill, Event: &e}
		if got, want := FormatText(&a), fmt.Sprintf("03:04:05.000000 alert         7 cat             HIGH kill r: %s %s", k, detail); got != want {
			t.Errorf("alert on %s:\n got %s\nwant %s", k, got, want)
		}
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
