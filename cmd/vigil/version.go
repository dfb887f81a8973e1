package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/internal/version"
)

// versionInfo is what `vigil version --json` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

func currentVersion() versionInfo {
	return versionInfo{version.Version, version.Commit(), runtime.Version(), runtime.GOOS, runtime.GOARCH}
}

// String is the one-line form of `vigil version` and `vigil --version`.
func (v versionInfo) String() string {
	return fmt.Sprintf("vigil %s (commit %s, %s, %s/%s)", v.Version, v.Commit, v.GoVersion, v.OS, v.Arch)
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of vigil",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			if asJSON {
				b, err := json.Marshal(v)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return err
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), v)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object: version, commit, go_version, os, arch")
	return cmd
}
