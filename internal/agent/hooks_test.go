package agent

import (
	"testing"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/sensors/file"
	"github.com/vigil-dev/vigil/internal/sensors/network"
	"github.com/vigil-dev/vigil/internal/sensors/privilege"
	"github.com/vigil-dev/vigil/internal/sensors/sockdata"
)

// Every syscall a sensor needs exists on the architecture vigil is built
// for; those some architecture lacks (open, unlink, rename, chmod, dup2,
// ... on arm64) are optional hooks. Run with GOARCH=arm64 (under qemu) to
// check arm64's table.
func TestRequiredSyscallsExist(t *testing.T) {
	for _, s := range []struct {
		sensor string
		kinds  []event.Kind
		hooks  func(event.Kind) []bpfrt.Hook
	}{
		{file.Source, event.FileKinds, file.Hooks},
		{network.Source, event.NetKinds, network.Hooks},
		{privilege.Source, event.PrivKinds, privilege.Hooks},
		{sockdata.Source, []event.Kind{event.KindHTTP}, func(event.Kind) []bpfrt.Hook { return sockdata.Hooks() }},
	} {
		for _, k := range s.kinds {
			if err := bpfrt.CheckSyscalls(s.hooks(k)); err != nil {
				t.Errorf("%s sensor, %s: %v", s.sensor, k, err)
			}
		}
	}
}
