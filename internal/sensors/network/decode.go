package network

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/linuxabi"
)

// Record is a decoded network record: the event as far as the kernel
// knows it, before enrichment from the process table.
type Record struct {
	Event event.Event
	bpfpolicy.Verdict

	net         event.Net
	local, peer event.Endpoint
	newFD       int64
}

var recordSize = int(unsafe.Sizeof(networkNetRecord{}))

// ErrMalformed wraps every decode failure: the record is counted and skipped.
var ErrMalformed = errors.New("malformed network record")

// Decode parses one network record into out, replacing its contents. It
// never panics on arbitrary input.
func Decode(raw []byte, clock bpfrt.Clock, out *Record) error {
	if len(raw) < recordSize {
		return fmt.Errorf("%w: %d bytes, shorter than %d", ErrMalformed, len(raw), recordSize)
	}
	*out = Record{}
	// The generated type has the C layout; raw holds at least one.
	r := (*networkNetRecord)(unsafe.Pointer(&raw[0]))
	ev := &out.Event
	out.Flags = bpfrt.DecodeHeader(raw, clock, ev)
	out.Rules = r.Rules
	kind := bpfpolicy.Kind(r.Kind)
	switch kind {
	case event.KindConnect, event.KindAccept, event.KindBind, event.KindListen, event.KindSocket, event.KindDup:
	default:
		return fmt.Errorf("%w: kind %d is not a network kind", ErrMalformed, r.Kind)
	}
	n := &out.net
	n.Result = r.Ret
	n.FD = int64(r.Fd)
	n.Family = familyName(r.Family)
	n.Protocol = int(r.Protocol)
	n.Type = linuxabi.SocketTypes.NameOf(uint64(r.Type))
	var ok bool
	if r.Nflags&uint8(networkNetFlagsNET_LOCAL) != 0 {
		if out.local, ok = bpfrt.Endpoint(r.Family, r.Local.Addr, r.Local.Port); ok {
			n.Local = &out.local
		}
	}
	if r.Nflags&uint8(networkNetFlagsNET_PEER) != 0 {
		if out.peer, ok = bpfrt.Endpoint(r.Family, r.Peer.Addr, r.Peer.Port); ok {
			n.Peer = &out.peer
		}
	}
	if kind == event.KindDup {
		out.newFD = int64(r.NewFd)
		n.NewFD = &out.newFD
	}
	ev.Kind = kind
	ev.Net = n
	return nil
}

func familyName(f uint16) string {
	if name := linuxabi.AddressFamilies.NameOf(uint64(f)); name != "" {
		return name
	}
	return fmt.Sprintf("AF_%d", f)
}
