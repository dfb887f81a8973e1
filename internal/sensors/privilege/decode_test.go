package privilege

import (
	"errors"
	"slices"
	"testing"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

func raw(r privilegePrivRecord, data string) []byte {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	return append(slices.Clone(b), data...)
}

func TestDecode(t *testing.T) {
	var in privilegePrivRecord
	in.Hdr.Type = uint8(bpfrt.RecordPriv)
	in.Kind = bpfpolicy.KindID(event.KindPtrace)
	in.Call = uint8(privilegePrivCallCALL_PTRACE)
	in.Arg = 0x4206
	in.TargetPid = 77
	var r Record
	if err := Decode(raw(in, ""), bpfrt.Clock{}, &r); err != nil || r.Event.Priv.Request != "PTRACE_SEIZE" || r.Event.Priv.TargetPID != 77 || r.Event.Priv.Syscall != "ptrace" {
		t.Errorf("ptrace: %v %+v", err, r.Event.Priv)
	}
	in.Kind = bpfpolicy.KindID(event.KindCapset)
	in.Call = uint8(privilegePrivCallCALL_CAPSET)
	in.Caps = [3]uint64{1<<21 | 1<<39, 0, 1}
	if err := Decode(raw(in, ""), bpfrt.Clock{}, &r); err != nil || !slices.Equal(r.Event.Priv.Effective, []string{"CAP_SYS_ADMIN", "CAP_BPF"}) ||
		!slices.Equal(r.Event.Priv.Inheritable, []string{"CAP_CHOWN"}) || r.Event.Priv.Permitted != nil {
		t.Errorf("capset: %v %+v", err, r.Event.Priv)
	}
	in.Kind = bpfpolicy.KindID(event.KindMemfd)
	in.Call = uint8(privilegePrivCallCALL_MEMFD_CREATE)
	in.Arg = 3
	in.NameLen = 4
	if err := Decode(raw(in, "evil"), bpfrt.Clock{}, &r); err != nil || r.Event.Priv.Name != "evil" ||
		!slices.Equal(r.Event.Priv.Flags, []string{"MFD_CLOEXEC", "MFD_ALLOW_SEALING"}) {
		t.Errorf("memfd: %v %+v", err, r.Event.Priv)
	}
	if err := Decode(raw(in, "ev"), bpfrt.Clock{}, &r); !errors.Is(err, ErrMalformed) {
		t.Errorf("name past the record: %v", err)
	}
	in.Call = 200
	if err := Decode(raw(in, "evil"), bpfrt.Clock{}, &r); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown call: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	var in privilegePrivRecord
	in.Kind = bpfpolicy.KindID(event.KindSetuid)
	in.Call = uint8(privilegePrivCallCALL_SETUID)
	f.Add(raw(in, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		_ = Decode(b, bpfrt.Clock{}, &r) // must not panic
	})
}
