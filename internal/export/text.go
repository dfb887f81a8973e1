// Package export turns events into output: JSON lines, human-readable text,
// and (with the agent) Prometheus metrics.
package export

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-dev/vigil/internal/event"
)

// FormatText renders ev on one line for people: time, kind, pid, comm,
// then what matters of the kind, as in
//
//	13:58:43.543662 exec     5991 sh              /usr/bin/dash /bin/sh -c 'exit 3' ppid=5985 uid=0 cwd=/root
//	13:58:44.002211 open     6010 cat             /etc/shadow read O_RDONLY fd=3
//	13:58:44.002305 alert    6010 cat             HIGH alert read-sensitive-file-untrusted: open /etc/shadow read O_RDONLY fd=3
//
// A failed call ends with its error (= -13 EACCES).
func FormatText(ev *event.Event) string {
	var b strings.Builder
	p := &ev.Process
	b.WriteString(ev.Time.Local().Format("15:04:05.000000"))
	fmt.Fprintf(&b, " %-7s %7d %-15s", ev.Kind, p.PID, p.Comm)
	if a := ev.Alert; a != nil {
		fmt.Fprintf(&b, " %s %s %s:", severityTag(a.Severity), a.Action, a.Rule)
		if in := a.Event; in != nil {
			b.WriteByte(' ')
			b.WriteString(string(in.Kind))
			details(&b, in)
		}
	} else {
		details(&b, ev)
	}
	if p.ContainerID != "" {
		id := p.ContainerID
		if len(id) > 12 {
			id = id[:12]
		}
		b.WriteString(" container=")
		b.WriteString(id)
	}
	return b.String()
}

// severityTag is a severity as a fixed-width word a reader spots in a
// stream of lines.
func severityTag(s string) string {
	switch s {
	case event.SeverityCritical:
		return "CRIT"
	case event.SeverityHigh:
		return "HIGH"
	case event.SeverityMedium:
		return "MED"
	case event.SeverityLow:
		return "LOW"
	case event.SeverityInfo:
		return "INFO"
	}
	return strings.ToUpper(s)
}

// details writes what matters of ev's kind, each part after a space.
func details(b *strings.Builder, ev *event.Event) {
	p := &ev.Process
	switch {
	case ev.Exec != nil:
		b.WriteString(" ")
		b.WriteString(p.Exe)
		for _, a := range p.Args {
			b.WriteByte(' ')
			b.WriteString(quoteArg(a))
		}
		if ev.Exec.ArgsTruncated {
			b.WriteString(" [...]")
		}
		fmt.Fprintf(b, " ppid=%d uid=%d", p.PPID, p.UID)
		if p.Cwd != "" {
			b.WriteString(" cwd=")
			b.WriteString(quoteArg(p.Cwd))
		}
	case ev.Exit != nil:
		if ev.Exit.Signal != 0 {
			fmt.Fprintf(b, " signal=%d", ev.Exit.Signal)
			if ev.Exit.CoreDumped {
				b.WriteString(" (core dumped)")
			}
		} else {
			fmt.Fprintf(b, " code=%d", ev.Exit.ExitCode)
		}
		fmt.Fprintf(b, " duration=%s", time.Duration(ev.Exit.DurationNs).Round(time.Microsecond))
	case ev.Fork != nil:
		fmt.Fprintf(b, " child=%d", ev.Fork.ChildPID)
	case ev.HTTP != nil:
		h := ev.HTTP
		fmt.Fprintf(b, " %s %s %s %d %s", h.Side, h.Method, quoteArg(h.Path), h.Status,
			time.Duration(h.DurationNs).Round(time.Microsecond))
		fmt.Fprintf(b, " %s:%d -> %s:%d", h.Local.Addr, h.Local.Port, h.Peer.Addr, h.Peer.Port)
		if h.Route != "" && h.Route != h.Path {
			b.WriteString(" route=")
			b.WriteString(quoteArg(h.Route))
		}
	case ev.File != nil:
		fileDetails(b, ev.Kind, ev.File)
	case ev.Net != nil:
		netDetails(b, ev.Kind, ev.Net)
	case ev.Priv != nil:
		privDetails(b, ev.Kind, ev.Priv)
	}
}

func fileDetails(b *strings.Builder, k event.Kind, f *event.File) {
	if k == event.KindMount {
		fmt.Fprintf(b, " %s on %s type %s", quoteArg(f.Source), quoteArg(f.Path), quoteArg(f.FSType))
	} else {
		b.WriteByte(' ')
		b.WriteString(quoteArg(f.Path))
	}
	if f.PathTruncated {
		b.WriteString(" [truncated]")
	}
	switch k {
	case event.KindRename:
		b.WriteString(" -> ")
		b.WriteString(quoteArg(f.NewPath))
	case event.KindLink, event.KindSymlink:
		b.WriteString(" -> ")
		b.WriteString(quoteArg(f.Target))
	case event.KindUnlink:
		if f.Dir {
			b.WriteString(" dir")
		}
	case event.KindOpen:
		if f.Access != "" {
			b.WriteByte(' ')
			b.WriteString(f.Access)
		}
		if f.Created {
			b.WriteString(" created")
		}
	case event.KindChown:
		if f.UID != nil {
			fmt.Fprintf(b, " uid=%d", *f.UID)
		}
		if f.GID != nil {
			fmt.Fprintf(b, " gid=%d", *f.GID)
		}
	}
	if len(f.Flags) > 0 {
		b.WriteByte(' ')
		b.WriteString(strings.Join(f.Flags, ","))
	}
	if f.Mode != nil {
		fmt.Fprintf(b, " mode=%#o", *f.Mode)
	}
	if k == event.KindOpen && f.Result >= 0 {
		fmt.Fprintf(b, " fd=%d", f.Result)
	} else {
		result(b, f.Result)
	}
}

func netDetails(b *strings.Builder, k event.Kind, n *event.Net) {
	b.WriteByte(' ')
	b.WriteString(n.Family)
	if n.Type != "" {
		b.WriteByte(' ')
		b.WriteString(n.Type)
	}
	if n.Protocol != 0 {
		fmt.Fprintf(b, " protocol=%d", n.Protocol)
	}
	switch {
	case k == event.KindDup && n.NewFD != nil:
		fmt.Fprintf(b, " fd %d -> %d", n.FD, *n.NewFD)
	case n.Local != nil && n.Peer != nil:
		fmt.Fprintf(b, " %s <- %s", endpoint(n.Local), endpoint(n.Peer))
	case n.Peer != nil:
		fmt.Fprintf(b, " -> %s", endpoint(n.Peer))
	case n.Local != nil:
		fmt.Fprintf(b, " on %s", endpoint(n.Local))
	}
	if k != event.KindDup {
		fmt.Fprintf(b, " fd=%d", n.FD)
	}
	if k == event.KindAccept || k == event.KindSocket {
		if n.Result < 0 {
			result(b, n.Result)
		}
		return
	}
	result(b, n.Result)
}

func endpoint(e *event.Endpoint) string {
	if strings.IndexByte(e.Addr, ':') >= 0 {
		return fmt.Sprintf("[%s]:%d", e.Addr, e.Port)
	}
	return fmt.Sprintf("%s:%d", e.Addr, e.Port)
}

func privDetails(b *strings.Builder, k event.Kind, p *event.Priv) {
	b.WriteByte(' ')
	b.WriteString(p.Syscall)
	switch k {
	case event.KindSetuid, event.KindSetgid:
		ids := make([]string, len(p.IDs))
		for i, id := range p.IDs {
			ids[i] = strconv.FormatInt(id, 10)
		}
		b.WriteByte(' ')
		b.WriteString(strings.Join(ids, ","))
	case event.KindCapset:
		fmt.Fprintf(b, " effective=%s permitted=%s", capList(p.Effective), capList(p.Permitted))
	case event.KindPtrace:
		fmt.Fprintf(b, " %s target=%d", p.Request, p.TargetPID)
	case event.KindModule:
		if p.Path != "" {
			b.WriteByte(' ')
			b.WriteString(quoteArg(p.Path))
		}
	case event.KindMemfd:
		b.WriteByte(' ')
		b.WriteString(quoteArg(p.Name))
	case event.KindBPF:
		b.WriteByte(' ')
		b.WriteString(p.Cmd)
	}
	if len(p.Flags) > 0 {
		b.WriteByte(' ')
		b.WriteString(strings.Join(p.Flags, ","))
	}
	result(b, p.Result)
}

func capList(caps []string) string {
	if len(caps) == 0 {
		return "none"
	}
	return strings.Join(caps, ",")
}

// result writes a syscall's result when it failed, -errno with its name.
func result(b *strings.Builder, r int64) {
	if r >= 0 {
		return
	}
	fmt.Fprintf(b, " = %d", r)
	if name := unix.ErrnoName(syscall.Errno(-r)); name != "" {
		b.WriteByte(' ')
		b.WriteString(name)
	}
}

// quoteArg quotes an argument the way a shell user would read it, only when
// it needs quoting.
func quoteArg(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if r <= ' ' || r == '\'' || r == '"' || r == '\\' || r == '$' || r == '`' || r > '~' {
			return strconv.Quote(s)
		}
	}
	return s
}
