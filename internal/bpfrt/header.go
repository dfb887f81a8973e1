package bpfrt

import (
	"bytes"
	"encoding/binary"

	"github.com/vigil-dev/vigil/internal/event"
)

// HeaderSize is the size of struct record_header (bpf/lib/vigil.h), the
// prefix of every process-scoped record; each sensor's tests check it
// against its bpf2go-generated type.
const HeaderSize = 56

// DecodeHeader fills ev's time and process from the record header at the
// start of raw, which must hold at least HeaderSize bytes, and returns the
// header's flags byte (whose meaning is the record type's).
func DecodeHeader(raw []byte, clock Clock, ev *event.Event) (flags uint8) {
	le := binary.LittleEndian
	p := &ev.Process
	p.PID = le.Uint32(raw[4:])
	p.TID = le.Uint32(raw[8:])
	p.PPID = le.Uint32(raw[12:])
	p.UID = le.Uint32(raw[16:])
	p.GID = le.Uint32(raw[20:])
	ev.Time = clock.Time(le.Uint64(raw[24:]))
	p.CgroupID = le.Uint64(raw[32:])
	comm := raw[40:56]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	p.Comm = string(comm)
	return raw[1]
}
