package sockdata

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// Direction of a data record, from the traced process's point of view.
type Direction uint8

// Directions.
const (
	Ingress = Direction(sockdataDirectionDIR_INGRESS) // the process read the bytes
	Egress  = Direction(sockdataDirectionDIR_EGRESS)  // the process wrote the bytes
)

// Side of a connection.
type Side uint8

// Sides.
const (
	Server = Side(sockdataSideSIDE_SERVER) // accepted: the process serves
	Client = Side(sockdataSideSIDE_CLIENT) // connected: the process asks
)

// Record is one decoded kernel record. Data aliases the raw record: it is
// valid until the raw buffer is released.
type Record struct {
	Type   bpfrt.RecordType // RecordConnOpen, RecordData or RecordConnClose
	ConnID uint64
	PID    uint32
	TID    uint32

	// ConnOpen
	Side        Side
	FD          uint32
	Local, Peer event.Endpoint
	KtimeNs     uint64 // ConnOpen: first syscall entry; ConnClose: close

	// Data
	Direction Direction
	Sendfile  bool
	Pos       uint64
	Size      uint32
	EnterNs   uint64
	ExitNs    uint64
	Data      []byte

	// ConnClose: bytes carried, [0] ingress, [1] egress
	Total [2]uint64
}

// Sizes of the C records, from the bpf2go-generated types, onto which
// records are decoded.
var (
	openSize  = int(unsafe.Sizeof(sockdataConnOpenRecord{}))
	dataSize  = int(unsafe.Sizeof(sockdataDataRecord{}))
	closeSize = int(unsafe.Sizeof(sockdataConnCloseRecord{}))
)

// ErrMalformed wraps every decode failure.
var ErrMalformed = errors.New("malformed sockdata record")

// Decode parses one raw record into out. It never panics.
func Decode(raw []byte, out *Record) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: empty", ErrMalformed)
	}
	*out = Record{Type: bpfrt.RecordType(raw[0])}
	switch out.Type {
	case bpfrt.RecordConnOpen:
		if len(raw) < openSize {
			return fmt.Errorf("%w: open record of %d bytes", ErrMalformed, len(raw))
		}
		r := (*sockdataConnOpenRecord)(unsafe.Pointer(&raw[0]))
		out.Side = Side(r.Side)
		out.PID, out.TID, out.FD = r.Pid, r.Tid, r.Fd
		out.ConnID = r.Id
		out.KtimeNs = r.KtimeNs
		var okL, okP bool
		out.Local, okL = bpfrt.Endpoint(r.Family, r.Local.Addr, r.Local.Port)
		out.Peer, okP = bpfrt.Endpoint(r.Family, r.Peer.Addr, r.Peer.Port)
		if !okL || !okP {
			return fmt.Errorf("%w: address family %d", ErrMalformed, r.Family)
		}
		if out.Side != Server && out.Side != Client {
			return fmt.Errorf("%w: side %d", ErrMalformed, out.Side)
		}
	case bpfrt.RecordData:
		if len(raw) < dataSize {
			return fmt.Errorf("%w: data record of %d bytes", ErrMalformed, len(raw))
		}
		r := (*sockdataDataRecord)(unsafe.Pointer(&raw[0]))
		out.Direction = Direction(r.Direction)
		out.Sendfile = r.Flags&uint8(sockdataDataFlagsDATA_SENDFILE) != 0
		out.PID, out.TID = r.Pid, r.Tid
		out.Size = r.Size
		out.ConnID = r.Id
		out.Pos = r.Pos
		out.EnterNs, out.ExitNs = r.EnterNs, r.ExitNs
		captured := int(r.Captured)
		if captured > len(raw)-dataSize || r.Captured > out.Size {
			return fmt.Errorf("%w: %d captured bytes of %d, record has %d", ErrMalformed, r.Captured, out.Size, len(raw)-dataSize)
		}
		if out.Direction != Ingress && out.Direction != Egress {
			return fmt.Errorf("%w: direction %d", ErrMalformed, out.Direction)
		}
		out.Data = raw[dataSize : dataSize+captured]
	case bpfrt.RecordConnClose:
		if len(raw) < closeSize {
			return fmt.Errorf("%w: close record of %d bytes", ErrMalformed, len(raw))
		}
		r := (*sockdataConnCloseRecord)(unsafe.Pointer(&raw[0]))
		out.PID = r.Pid
		out.ConnID = r.Id
		out.KtimeNs = r.KtimeNs
		out.Total = r.Pos
	default:
		return fmt.Errorf("%w: unknown record type %d", ErrMalformed, raw[0])
	}
	return nil
}
