package file

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// The decoder reads fields at fixed offsets; they must be the C struct's.
func TestDecoderOffsetsMatchC(t *testing.T) {
	var r fileFileRecord
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"hdr", unsafe.Sizeof(r.Hdr), bpfrt.HeaderSize},
		{"rules", unsafe.Offsetof(r.Rules), 56},
		{"ret", unsafe.Offsetof(r.Ret), 64},
		{"arg", unsafe.Offsetof(r.Arg), 72},
		{"uid", unsafe.Offsetof(r.Uid), 80},
		{"gid", unsafe.Offsetof(r.Gid), 88},
		{"mode", unsafe.Offsetof(r.Mode), 96},
		{"path_len", unsafe.Offsetof(r.PathLen), 100},
		{"path2_len", unsafe.Offsetof(r.Path2Len), 102},
		{"src_len", unsafe.Offsetof(r.SrcLen), 104},
		{"fstype_len", unsafe.Offsetof(r.FstypeLen), 106},
		{"kind", unsafe.Offsetof(r.Kind), 108},
		{"fflags", unsafe.Offsetof(r.Fflags), 109},
	} {
		if c.got != c.want {
			t.Errorf("%s: offset %d in the generated type, decoder assumes %d", c.name, c.got, c.want)
		}
	}
}

// record builds a raw file record as the kernel would.
func record(kind event.Kind, arg uint64, mode uint32, ret int64, fflags uint8, strs ...string) []byte {
	b := make([]byte, recordSize)
	le := binary.LittleEndian
	b[0] = bpfpolicy.RecordFile
	b[1] = bpfpolicy.FlagKilled
	le.PutUint32(b[4:], 42)
	le.PutUint64(b[56:], 0b101)
	le.PutUint64(b[64:], uint64(ret))
	le.PutUint64(b[72:], arg)
	le.PutUint64(b[80:], 7)
	le.PutUint64(b[88:], ^uint64(0))
	le.PutUint32(b[96:], mode)
	for i, s := range strs {
		le.PutUint16(b[100+2*i:], uint16(len(s)))
		b = append(b, s...)
	}
	b[108] = bpfpolicy.KindID(kind)
	b[109] = fflags
	return b
}

func TestDecode(t *testing.T) {
	var r Record
	raw := record(event.KindOpen, 01|0100|01000, 0o640, 3, uint8(fileFileFlagsFILE_CREATED), "/etc/x")
	if err := Decode(raw, bpfrt.Clock{}, &r); err != nil {
		t.Fatal(err)
	}
	f := r.Event.File
	if r.Event.Kind != event.KindOpen || f.Path != "/etc/x" || f.Access != "write" || !f.Created || f.Result != 3 ||
		f.Mode == nil || *f.Mode != 0o640 || r.Rules != 0b101 || r.Flags != bpfpolicy.FlagKilled || r.Event.Process.PID != 42 ||
		f.PathTruncated {
		t.Errorf("open: %+v %+v", r, f)
	}
	if want := []string{"O_WRONLY", "O_CREAT", "O_TRUNC"}; len(f.Flags) != 3 || f.Flags[0] != want[0] || f.Flags[2] != want[2] {
		t.Errorf("flags %v, want %v", f.Flags, want)
	}

	raw = record(event.KindRename, 0, 0, 0, uint8(fileFileFlagsFILE_PATH_TRUNCATED), "/a", "/b")
	if err := Decode(raw, bpfrt.Clock{}, &r); err != nil || r.Event.File.NewPath != "/b" || r.Event.File.Path != "/a" ||
		!r.Event.File.PathTruncated {
		t.Errorf("rename: %v %+v", err, r.Event.File)
	}
	raw = record(event.KindMount, 4096, 0, -1, 0, "/mnt", "", "none", "cgroup")
	if err := Decode(raw, bpfrt.Clock{}, &r); err != nil || r.Event.File.FSType != "cgroup" || r.Event.File.Source != "none" ||
		len(r.Event.File.Flags) != 1 || r.Event.File.Flags[0] != "MS_BIND" || r.Event.File.Result != -1 {
		t.Errorf("mount: %v %+v", err, r.Event.File)
	}
	raw = record(event.KindChown, 0, 0, 0, 0, "/c")
	if err := Decode(raw, bpfrt.Clock{}, &r); err != nil || *r.Event.File.UID != 7 || *r.Event.File.GID != -1 {
		t.Errorf("chown: %v %+v", err, r.Event.File)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	var r Record
	for name, raw := range map[string][]byte{
		"short":       make([]byte, recordSize-1),
		"long string": record(event.KindOpen, 0, 0, 0, 0, "/x")[:recordSize+1],
		"not a file":  record(event.KindConnect, 0, 0, 0, 0),
	} {
		if err := Decode(raw, bpfrt.Clock{}, &r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(event.KindOpen, 1, 0, 3, 0, "/etc/x"))
	f.Add(record(event.KindMount, 0, 0, 0, 0, "/m", "", "s", "t"))
	f.Add(record(event.KindSymlink, 0, 0, 0, 0, "/l", "/t"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r Record
		_ = Decode(raw, bpfrt.Clock{}, &r) // must not panic
	})
}
