package privilege

import (
	"testing"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Every syscall the sensor needs exists on the architecture it is built
// for (amd64 and arm64 have them all; init_module and finit_module are
// optional, for kernels built without module support).
func TestRequiredSyscallsExist(t *testing.T) {
	for _, k := range event.PrivKinds {
		if err := bpfrt.CheckSyscalls(hooks(k)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}
