// Command vigil is an eBPF agent for Linux nodes: it observes processes and
// services, detects and stops intrusions, and steers traffic. Each subcommand
// lives in its own file of this package.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "vigil:", err)
		os.Exit(1)
	}
}

// surviveBrokenPipes makes a write to a stdout or stderr whose reader went
// away fail with EPIPE, for the caller to handle, rather than kill vigil
// with SIGPIPE, the Go runtime's default for file descriptors 1 and 2
// (os/signal, "SIGPIPE"). The commands that must outlive their readers call
// it (run: its enforcement must go on; trace: it stops cleanly); the
// others keep the default, so that 'vigil rules list | head -1' ends
// quietly. It lasts until the process exits: its last words on stderr too.
func surviveBrokenPipes() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}

// exitError asks main to exit with a status code without printing anything:
// the command has already said what went wrong.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// globalFlags are accepted by every subcommand.
type globalFlags struct {
	logLevel  string
	logFormat string
}

func run(ctx context.Context, args []string) error {
	var g globalFlags
	root := &cobra.Command{
		Use:   "vigil",
		Short: "eBPF agent for Linux nodes: observe, protect, steer traffic",
		Long: `vigil watches a Linux node with eBPF programs attached to kernel
tracepoints and cgroup hooks, and reports what processes and services do:
process events with lineage, RED metrics and spans for every HTTP/1.x server
and client, and file, network and privilege events checked against
detection rules in the kernel, which can kill a process or refuse a connect.

Start with 'vigil doctor' to see what this kernel supports, 'vigil trace' to
stream live events, 'vigil rules' to check rule files, and 'vigil run' for
the agent: /metrics, alerts on stdout, and OTLP export when
OTEL_EXPORTER_OTLP_ENDPOINT is set.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentVersion().String(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(g.logLevel, g.logFormat)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format on stderr: text or json")

	root.AddCommand(
		newVersionCmd(),
		newDoctorCmd(),
		newTraceCmd(),
		newRunCmd(),
		newRulesCmd(),
	)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}
