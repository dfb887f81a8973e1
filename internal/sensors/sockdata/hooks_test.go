package sockdata

import (
	"testing"

	"github.com/vigil-dev/vigil/internal/bpfrt"
)

// Every syscall the sensor needs exists on the architecture it is built
// for; dup2, which arm64 lacks, is an optional hook.
func TestRequiredSyscallsExist(t *testing.T) {
	if err := bpfrt.CheckSyscalls(hooks()); err != nil {
		t.Error(err)
	}
}
