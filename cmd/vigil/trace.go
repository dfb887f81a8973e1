package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/internal/agent"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/export"
)

type traceFlags struct {
	json           bool
	kinds          []string
	pid            uint32
	comm           string
	container      string
	ruleFiles      []string
	noDefaultRules bool
	showSecrets    bool
}

// defaultTraceKinds are streamed when --kind is not given: the security
// kinds are many events a second on a busy node, and show up as alerts.
var defaultTraceKinds = []event.Kind{event.KindExec, event.KindExit, event.KindFork, event.KindHTTP, event.KindAlert}

func newTraceCmd() *cobra.Command {
	var f traceFlags
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Stream live events",
		Long: `Stream live events, one per line: human-readable by default, or with --json
exactly one JSON object per line (the event contract in docs/events.md).

Kinds: ` + strings.Join(kindNames(), ", ") + `.
Without --kind: exec, exit, fork, http and alert. Alerts come from the
built-in rules and any --rules files; file, network and privilege kinds
stream every such event on the node. Up to 16384 events wait for a slow
output; beyond, and at exit for an output that stopped reading, events are
dropped and their number printed on stderr. When the output closes (the
reader of a pipe exits, as 'head' does) vigil trace stops and exits 0;
SIGHUP stops it too, as SIGINT and SIGTERM do. Passwords, tokens, secret
headers and URL query strings in command lines are shown as <redacted>
(docs/events.md) unless --show-secrets; rules always see them whole.`,
		Example: `  vigil trace --kind exec,exit
  vigil trace --json --comm nginx
  vigil trace --kind alert --rules my-rules.yaml
  vigil trace --kind open,connect --pid 1234
  vigil trace --json --container 3f4e5d6c7b8a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := f.filter()
			if err != nil {
				return err
			}
			surviveBrokenPipes()
			// A hangup (the terminal closed) stops the trace cleanly; a
			// trace started with SIGHUP ignored (nohup) keeps ignoring it.
			ctx := cmd.Context()
			if !signal.Ignored(syscall.SIGHUP) {
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, syscall.SIGHUP)
				defer stop()
			}
			// Events are written from a goroutine of their own, as alerts
			// are by vigil run: an output that stops reading (a paused
			// pager) costs events, counted, never the exit.
			encode := export.TextLine
			if f.json {
				encode = export.JSONLine
			}
			if !f.showSecrets {
				encode = export.Redacted(encode)
			}
			w := export.NewQueuedWriter(cmd.OutOrStdout(), traceQueue, filter, encode)
			opts := agent.Options{
				ExcludeSelf: true,
				Sinks:       []agent.Sink{w},
			}
			kinds := defaultTraceKinds
			if len(f.kinds) > 0 {
				kinds = nil
				for _, k := range f.kinds {
					kinds = append(kinds, event.Kind(strings.TrimSpace(k)))
				}
			}
			// Load only the sensors whose events are wanted: HTTP capture
			// and the security sensors cost the most.
			if slices.Contains(kinds, event.KindHTTP) {
				opts.HTTP = &agent.HTTPOptions{}
			}
			sec := &agent.SecurityOptions{}
			for _, k := range kinds {
				if slices.Contains(event.FileKinds, k) || slices.Contains(event.NetKinds, k) || slices.Contains(event.PrivKinds, k) {
					sec.EmitAll = append(sec.EmitAll, k)
				}
			}
			if slices.Contains(kinds, event.KindAlert) {
				prog, err := loadRules(config.Rules{Builtin: !f.noDefaultRules, Files: f.ruleFiles})
				if err != nil {
					return err
				}
				sec.Program = prog
			}
			if sec.Program != nil || len(sec.EmitAll) > 0 {
				opts.Security = sec
			}
			oneProc(slog.Default())
			a, err := agent.NewContext(ctx, opts)
			if err != nil {
				w.Close(context.Background())
				if ctx.Err() != nil {
					return nil // stopped while starting
				}
				return err
			}
			defer a.Close()
			fmt.Fprintln(os.Stderr, "vigil: tracing; Ctrl-C to stop")
			// An output that is gone (its reader exited) leaves a tracer
			// nothing to do: stop, as SIGTERM would.
			runCtx, stopRun := context.WithCancel(ctx)
			defer stopRun()
			go func() {
				select {
				case <-w.Failed():
					stopRun()
				case <-runCtx.Done():
				}
			}()
			runErr := a.Run(runCtx)
			c, cancel := context.WithTimeout(context.Background(), traceCloseTimeout)
			defer cancel()
			if err := w.Close(c); err != nil {
				fmt.Fprintln(os.Stderr, "vigil: at exit:", err)
			}
			if w.WriteFailed() && errors.Is(w.Err(), syscall.EPIPE) {
				return runErr // the reader went away: nothing more to say
			}
			if n := w.Dropped(); n > 0 {
				fmt.Fprintf(os.Stderr, "vigil: %d events not written in all: the output did not keep up\n", n)
			}
			return errors.Join(runErr, w.Err())
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "one JSON object per line")
	cmd.Flags().StringSliceVar(&f.kinds, "kind", nil, "only these event kinds (comma-separated)")
	cmd.Flags().Uint32Var(&f.pid, "pid", 0, "only events of this process id")
	cmd.Flags().StringVar(&f.comm, "comm", "", "only events of processes with this command name")
	cmd.Flags().StringVar(&f.container, "container", "", "only events of this container (id or unique prefix)")
	cmd.Flags().StringArrayVar(&f.ruleFiles, "rules", nil, "rule file for alerts, after the built-in rules (repeatable)")
	cmd.Flags().BoolVar(&f.noDefaultRules, "no-default-rules", false, "do not load the built-in rules")
	cmd.Flags().BoolVar(&f.showSecrets, "show-secrets", false, "print command lines whole: do not hide passwords, tokens and the like in them")
	return cmd
}

// traceQueue bounds the events waiting to be written out: a few seconds
// of a busy node.
const traceQueue = 16384

// traceCloseTimeout bounds writing out what is queued at exit; the agent's
// own shutdown takes at most 1.5 s of the 2 s contract.
const traceCloseTimeout = 400 * time.Millisecond

func kindNames() []string {
	names := make([]string, len(event.AllKinds))
	for i, k := range event.AllKinds {
		names[i] = string(k)
	}
	return names
}

// filter compiles the flags into a predicate; unknown kinds are an error.
func (f traceFlags) filter() (func(*event.Event) bool, error) {
	kinds := map[event.Kind]bool{}
	for _, k := range f.kinds {
		k = strings.TrimSpace(k)
		if !slices.Contains(event.AllKinds, event.Kind(k)) {
			return nil, fmt.Errorf("--kind %q: unknown kind (known: %s)", k, strings.Join(kindNames(), ", "))
		}
		kinds[event.Kind(k)] = true
	}
	if len(kinds) == 0 {
		for _, k := range defaultTraceKinds {
			kinds[k] = true
		}
	}
	container := strings.ToLower(f.container)
	return func(ev *event.Event) bool {
		if !kinds[ev.Kind] {
			return false
		}
		p := &ev.Process
		if f.pid != 0 && p.PID != f.pid {
			return false
		}
		if f.comm != "" && p.Comm != f.comm {
			return false
		}
		if container != "" && (p.ContainerID == "" || !strings.HasPrefix(p.ContainerID, container)) {
			return false
		}
		return true
	}, nil
}
