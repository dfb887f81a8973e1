// Package export turns events into output: JSON lines, human-readable text,
// and (with the agent) Prometheus metrics.
package export

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/event"
)

// FormatText renders ev on one line for people:
//
//	13:58:43.543662 exec  5991 sh              /usr/bin/dash /bin/sh -c 'exit 3' ppid=5985 uid=0 cwd=/root
func FormatText(ev *event.Event) string {
	var b strings.Builder
	p := &ev.Process
	b.WriteString(ev.Time.Local().Format("15:04:05.000000"))
	fmt.Fprintf(&b, " %-5s %7d %-15s", ev.Kind, p.PID, p.Comm)
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
		fmt.Fprintf(&b, " ppid=%d uid=%d", p.PPID, p.UID)
		if p.Cwd != "" {
			b.WriteString(" cwd=")
			b.WriteString(quoteArg(p.Cwd))
		}
	case ev.Exit != nil:
		if ev.Exit.Signal != 0 {
			fmt.Fprintf(&b, " signal=%d", ev.Exit.Signal)
			if ev.Exit.CoreDumped {
				b.WriteString(" (core dumped)")
			}
		} else {
			fmt.Fprintf(&b, " code=%d", ev.Exit.ExitCode)
		}
		fmt.Fprintf(&b, " duration=%s", time.Duration(ev.Exit.DurationNs).Round(time.Microsecond))
	case ev.Fork != nil:
		fmt.Fprintf(&b, " child=%d", ev.Fork.ChildPID)
	case ev.HTTP != nil:
		h := ev.HTTP
		fmt.Fprintf(&b, " %s %s %s %d %s", h.Side, h.Method, quoteArg(h.Path), h.Status,
			time.Duration(h.DurationNs).Round(time.Microsecond))
		fmt.Fprintf(&b, " %s:%d -> %s:%d", h.Local.Addr, h.Local.Port, h.Peer.Addr, h.Peer.Port)
		if h.Route != "" && h.Route != h.Path {
			b.WriteString(" route=")
			b.WriteString(quoteArg(h.Route))
		}
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
