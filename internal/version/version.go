// Package version reports the build's version, set at link time with
// -ldflags "-X github.com/vigil-dev/vigil/internal/version.Version=...".
package version

import "runtime/debug"

// Version is the release version; "dev" for local builds.
var Version = "dev"

// Commit returns the VCS revision the binary was built from, if known.
func Commit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return "unknown"
}
