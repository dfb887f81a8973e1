package network

import (
	"testing"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Every syscall the sensor needs exists on the architecture it is built
// for; dup2, which arm64 lacks, is an optional hook.
func TestRequiredSyscallsExist(t *testing.T) {
	for _, k := range event.NetKinds {
		if err := bpfrt.CheckSyscalls(hooks(k)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}
