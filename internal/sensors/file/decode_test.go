package file

import (
	"errors"
	"testing"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
)

// record builds a raw file record as the kernel would.
func record(kind event.Kind, arg uint64, mode uint32, ret int64, fflags uint8, strs ...string) []byte {
	r := fileFileRecord{Rules: 0b101, Ret: ret, Arg: arg, Uid: 7, Gid: -1, Mode: mode, Kind: bpfpolicy.KindID(kind), Fflags: fflags}
	r.Hdr.Type = uint8(bpfrt.RecordFile)
	r.Hdr.Flags = bpfpolicy.FlagKilled
	r.Hdr.Pid = 42
	lens := []*uint16{&r.PathLen, &r.Path2Len, &r.SrcLen, &r.FstypeLen}
	for i, s := range strs {
		*lens[i] = uint16(len(s))
	}
	return bpftest.Raw(&r, strs...)
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
