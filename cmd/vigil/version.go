package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of vigil",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "vigil %s (commit %s, %s, %s/%s)\n",
				version.Version, version.Commit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
