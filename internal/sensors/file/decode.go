package file

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/linuxabi"
)

// Record is a decoded file record: the event as far as the kernel knows
// it, before enrichment from the process table.
type Record struct {
	Event event.Event
	bpfpolicy.Verdict

	file     event.File
	mode     uint32
	uid, gid int64
}

// recordSize is the size of the C record, from the bpf2go-generated type
// onto which records are decoded.
var recordSize = int(unsafe.Sizeof(fileFileRecord{}))

// ErrMalformed wraps every decode failure: the record is counted and skipped.
var ErrMalformed = errors.New("malformed file record")

// O_CREAT and O_TMPFILE: an open that may create a file, whose mode applies.
const creating = 0100 | 020000000

// Decode parses one file record into out, replacing its contents. It never
// panics on arbitrary input.
func Decode(raw []byte, clock bpfrt.Clock, out *Record) error {
	if len(raw) < recordSize {
		return fmt.Errorf("%w: %d bytes, shorter than %d", ErrMalformed, len(raw), recordSize)
	}
	*out = Record{}
	r := (*fileFileRecord)(unsafe.Pointer(&raw[0]))
	ev := &out.Event
	out.Flags = bpfrt.DecodeHeader(raw, clock, ev)
	out.Rules = r.Rules
	ret := r.Ret
	arg := r.Arg
	out.uid, out.gid = r.Uid, r.Gid
	out.mode = r.Mode
	pathLen, path2Len, srcLen, fstypeLen := int(r.PathLen), int(r.Path2Len), int(r.SrcLen), int(r.FstypeLen)
	kind := bpfpolicy.Kind(r.Kind)
	fflags := fileFileFlags(r.Fflags)

	data := raw[recordSize:]
	if pathLen+path2Len+srcLen+fstypeLen > len(data) {
		return fmt.Errorf("%w: string lengths %d+%d+%d+%d exceed %d bytes of data",
			ErrMalformed, pathLen, path2Len, srcLen, fstypeLen, len(data))
	}
	f := &out.file
	f.Path = string(data[:pathLen])
	data = data[pathLen:]
	path2 := string(data[:path2Len])
	data = data[path2Len:]
	f.Result = ret
	f.PathTruncated = fflags&fileFileFlagsFILE_PATH_TRUNCATED != 0

	switch kind {
	case event.KindOpen:
		f.Flags = linuxabi.OpenFlags.Bits(arg)
		f.Access = linuxabi.Access(arg)
		f.Created = fflags&fileFileFlagsFILE_CREATED != 0
		if arg&creating != 0 {
			f.Mode = &out.mode
		}
	case event.KindUnlink:
		f.Dir = fflags&fileFileFlagsFILE_DIR != 0
	case event.KindRename:
		f.NewPath = path2
	case event.KindLink, event.KindSymlink:
		f.Target = path2
	case event.KindChmod:
		out.mode &= 07777
		f.Mode = &out.mode
	case event.KindChown:
		f.UID = &out.uid
		f.GID = &out.gid
	case event.KindMount:
		f.Source = string(data[:srcLen])
		f.FSType = string(data[srcLen : srcLen+fstypeLen])
		f.Flags = linuxabi.MountFlags.Bits(arg)
	default:
		return fmt.Errorf("%w: kind %d is not a file kind", ErrMalformed, r.Kind)
	}
	ev.Kind = kind
	ev.File = f
	return nil
}
