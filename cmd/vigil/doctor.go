package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/cilium/ebpf/rlimit"
	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/internal/kernel"
)

func newDoctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor [--json]",
		Short: "Check which eBPF hooks and vigil features this kernel supports",
		Long: `doctor loads and attaches a tiny program for every hook kind, helper and
map type vigil uses, detaches it at once, and reports which worked and, for
those that did not, the kernel's answer. It then lists the vigil features
that are enabled, degraded or disabled as a result.

It exits 0 when vigil's core (process events) can run, 1 otherwise. The only
lasting change it may make is mounting tracefs, as 'vigil run' would.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				slog.Warn("not running as root: probes need CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN and may fail for that reason alone")
			}
			// Only kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK;
			// there a low limit would make every probe fail. If raising it
			// fails, the probes still run and report what the kernel says.
			if err := rlimit.RemoveMemlock(); err != nil {
				slog.Warn("cannot raise RLIMIT_MEMLOCK", "err", err)
			}

			report := kernel.Probe(cmd.Context())

			out := cmd.OutOrStdout()
			var err error
			if asJSON {
				err = writeDoctorJSON(out, report)
			} else {
				err = writeDoctorTable(out, report)
			}
			if err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if !report.CoreOK {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print one JSON object: {"kernel", "checks", "features", "core_ok"}`)
	return cmd
}

func writeDoctorJSON(w io.Writer, r *kernel.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeDoctorTable prints the checks and features as two aligned tables.
func writeDoctorTable(w io.Writer, r *kernel.Report) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "kernel %s\n\n", r.Kernel)
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tKIND\tAVAILABLE\tREASON")
	for _, c := range r.Checks {
		avail := "no"
		if c.Available {
			avail = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Kind, avail, c.Reason)
	}
	// Flush between the tables so that each gets its own column widths.
	tw.Flush()
	fmt.Fprintln(tw, "\nFEATURE\tSTATUS\tREASON")
	for _, f := range r.Features {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, f.Status, f.Reason)
	}
	tw.Flush()

	if r.CoreOK {
		fmt.Fprintln(&buf, "\nvigil can run on this kernel.")
	} else {
		fmt.Fprintln(&buf, "\nvigil cannot run on this kernel: process events are disabled (see the checks above).")
	}

	// tabwriter pads empty last cells; trailing spaces only get in the way
	// of diffs and copy-paste.
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}
