package file

import (
	"testing"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Every syscall the sensor needs exists on the architecture it is built
// for; those some lack (open, unlink, rename, chmod, ... on arm64) are
// optional hooks.
func TestRequiredSyscallsExist(t *testing.T) {
	for _, k := range event.FileKinds {
		if err := bpfrt.CheckSyscalls(hooks(k)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}
