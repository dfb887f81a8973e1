package bpfrt

import (
	"bytes"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/event"
)

// RecordType is the type byte at offset 0 of every ring buffer record:
// enum record_type of bpf/lib/vigil.h, the one registry of record types.
// The values come from the bpf2go twin of that enum; a type added in C
// without its line here fails TestRecordTypesMatchC.
type RecordType uint8

// The record types, by the sensor that writes them.
const (
	RecordExec      = RecordType(dispatchRecordTypeRECORD_EXEC)
	RecordFork      = RecordType(dispatchRecordTypeRECORD_FORK)
	RecordExit      = RecordType(dispatchRecordTypeRECORD_EXIT)
	RecordConnOpen  = RecordType(dispatchRecordTypeRECORD_CONN_OPEN)
	RecordData      = RecordType(dispatchRecordTypeRECORD_DATA)
	RecordConnClose = RecordType(dispatchRecordTypeRECORD_CONN_CLOSE)
	RecordFile      = RecordType(dispatchRecordTypeRECORD_FILE)
	RecordNet       = RecordType(dispatchRecordTypeRECORD_NET)
	RecordPriv      = RecordType(dispatchRecordTypeRECORD_PRIV)
)

// recordNames names the record types, as the C enum does without its
// RECORD_ prefix, in lower case.
var recordNames = map[RecordType]string{
	RecordExec: "exec", RecordFork: "fork", RecordExit: "exit",
	RecordConnOpen: "conn_open", RecordData: "data", RecordConnClose: "conn_close",
	RecordFile: "file", RecordNet: "net", RecordPriv: "priv",
}

func (t RecordType) String() string {
	if n, ok := recordNames[t]; ok {
		return n
	}
	return fmt.Sprintf("record_type(%d)", uint8(t))
}

// Header is struct record_header (bpf/lib/vigil.h), the prefix of every
// process-scoped record, as bpf2go generates it.
type Header = dispatchRecordHeader

// HeaderSize is the size of struct record_header.
const HeaderSize = int(unsafe.Sizeof(Header{}))

// HeaderOf returns the record header at the start of raw, which must hold
// at least HeaderSize bytes. The header aliases raw.
func HeaderOf(raw []byte) *Header {
	return (*Header)(unsafe.Pointer(&raw[0]))
}

// DecodeHeader fills ev's time and process from the record header at the
// start of raw, which must hold at least HeaderSize bytes, and returns the
// header's flags byte (whose meaning is the record type's).
func DecodeHeader(raw []byte, clock Clock, ev *event.Event) (flags uint8) {
	h := HeaderOf(raw)
	p := &ev.Process
	p.PID = h.Pid
	p.TID = h.Tid
	p.PPID = h.Ppid
	p.UID = h.Uid
	p.GID = h.Gid
	ev.Time = clock.Time(h.KtimeNs)
	p.CgroupID = h.CgroupId
	comm := unsafe.Slice((*byte)(unsafe.Pointer(&h.Comm[0])), len(h.Comm))
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	p.Comm = string(comm)
	return h.Flags
}

// Address families of struct endpoint.
const (
	afInet  = 2
	afInet6 = 10
)

// Endpoint decodes a struct endpoint (bpf/lib/vigil.h), given its fields
// and the socket's address family: IPv4 is in the first four bytes for
// AF_INET, and IPv4-mapped IPv6 addresses print as IPv4. ok is false for a
// family that is neither.
func Endpoint(family uint16, addr [16]uint8, port uint16) (e event.Endpoint, ok bool) {
	var a netip.Addr
	switch family {
	case afInet:
		a = netip.AddrFrom4([4]byte(addr[:4]))
	case afInet6:
		a = netip.AddrFrom16(addr).Unmap()
	default:
		return event.Endpoint{}, false
	}
	return event.Endpoint{Addr: a.String(), Port: port}, true
}
