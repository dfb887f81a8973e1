package sockdata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/event"
)

// RecordType says which fields of a Record are set.
type RecordType uint8

// Record types, as the kernel writes them at offset 0.
const (
	ConnOpen  RecordType = 10
	Data      RecordType = 11
	ConnClose RecordType = 12
)

// Direction of a data record, from the traced process's point of view.
type Direction uint8

// Directions.
const (
	Ingress Direction = 1 // the process read the bytes
	Egress  Direction = 2 // the process wrote the bytes
)

// Side of a connection.
type Side uint8

// Sides.
const (
	Server Side = 1 // accepted: the process serves
	Client Side = 2 // connected: the process asks
)

// Record is one decoded kernel record. Data aliases the raw record: it is
// valid until the raw buffer is released.
type Record struct {
	Type   RecordType
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

var (
	openSize  = int(unsafe.Sizeof(sockdataConnOpenRecord{}))
	dataSize  = int(unsafe.Sizeof(sockdataDataRecord{}))
	closeSize = int(unsafe.Sizeof(sockdataConnCloseRecord{}))
)

// ErrMalformed wraps every decode failure.
var ErrMalformed = errors.New("malformed sockdata record")

var le = binary.LittleEndian

const (
	afInet  = 2
	afInet6 = 10
)

// Decode parses one raw record into out. It never panics.
func Decode(raw []byte, out *Record) error {
	if len(raw) < 8 {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(raw))
	}
	*out = Record{Type: RecordType(raw[0])}
	switch out.Type {
	case ConnOpen:
		if len(raw) < openSize {
			return fmt.Errorf("%w: open record of %d bytes", ErrMalformed, len(raw))
		}
		out.Side = Side(raw[1])
		family := le.Uint16(raw[2:])
		out.PID = le.Uint32(raw[4:])
		out.TID = le.Uint32(raw[8:])
		out.FD = le.Uint32(raw[12:])
		out.ConnID = le.Uint64(raw[16:])
		out.KtimeNs = le.Uint64(raw[24:])
		var err error
		if out.Local, err = endpoint(family, raw[32:52]); err != nil {
			return err
		}
		if out.Peer, err = endpoint(family, raw[52:72]); err != nil {
			return err
		}
		if out.Side != Server && out.Side != Client {
			return fmt.Errorf("%w: side %d", ErrMalformed, out.Side)
		}
	case Data:
		if len(raw) < dataSize {
			return fmt.Errorf("%w: data record of %d bytes", ErrMalformed, len(raw))
		}
		out.Direction = Direction(raw[1])
		out.Sendfile = raw[2]&uint8(sockdataDataFlagsDATA_SENDFILE) != 0
		out.PID = le.Uint32(raw[4:])
		out.TID = le.Uint32(raw[8:])
		out.Size = le.Uint32(raw[12:])
		out.ConnID = le.Uint64(raw[16:])
		out.Pos = le.Uint64(raw[24:])
		out.EnterNs = le.Uint64(raw[32:])
		out.ExitNs = le.Uint64(raw[40:])
		captured := int(le.Uint32(raw[48:]))
		if captured > len(raw)-dataSize || uint32(captured) > out.Size {
			return fmt.Errorf("%w: %d captured bytes of %d, record has %d", ErrMalformed, captured, out.Size, len(raw)-dataSize)
		}
		if out.Direction != Ingress && out.Direction != Egress {
			return fmt.Errorf("%w: direction %d", ErrMalformed, out.Direction)
		}
		out.Data = raw[dataSize : dataSize+captured]
	case ConnClose:
		if len(raw) < closeSize {
			return fmt.Errorf("%w: close record of %d bytes", ErrMalformed, len(raw))
		}
		out.PID = le.Uint32(raw[4:])
		out.ConnID = le.Uint64(raw[8:])
		out.KtimeNs = le.Uint64(raw[16:])
		out.Total = [2]uint64{le.Uint64(raw[24:]), le.Uint64(raw[32:])}
	default:
		return fmt.Errorf("%w: unknown record type %d", ErrMalformed, raw[0])
	}
	return nil
}

func endpoint(family uint16, b []byte) (event.Endpoint, error) {
	var a netip.Addr
	switch family {
	case afInet:
		a = netip.AddrFrom4([4]byte(b[:4]))
	case afInet6:
		a = netip.AddrFrom16([16]byte(b[:16])).Unmap()
	default:
		return event.Endpoint{}, fmt.Errorf("%w: address family %d", ErrMalformed, family)
	}
	return event.Endpoint{Addr: a.String(), Port: le.Uint16(b[16:])}, nil
}
