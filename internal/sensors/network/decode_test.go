package network

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

func raw(r networkNetRecord) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
}

func TestDecode(t *testing.T) {
	var in networkNetRecord
	in.Hdr.Type = uint8(bpfrt.RecordNet)
	in.Hdr.Pid = 9
	in.Rules = 2
	in.Ret = -1
	in.Kind = bpfpolicy.KindID(event.KindConnect)
	in.Family = 10
	in.Type = 1
	in.Fd = 5
	in.Nflags = uint8(networkNetFlagsNET_PEER)
	copy(in.Peer.Addr[:], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1})
	in.Peer.Port = 22
	var r Record
	if err := Decode(raw(in), bpfrt.Clock{}, &r); err != nil {
		t.Fatal(err)
	}
	n := r.Event.Net
	if r.Event.Kind != event.KindConnect || n.Family != "AF_INET6" || n.Type != "SOCK_STREAM" || n.Peer == nil ||
		n.Peer.Addr != "10.0.0.1" || n.Peer.Port != 22 || n.Local != nil || n.Result != -1 || n.FD != 5 || r.Rules != 2 {
		t.Errorf("connect: %+v peer %+v", n, n.Peer)
	}

	in.Kind = bpfpolicy.KindID(event.KindDup)
	in.Family = 2
	in.NewFd = 0
	in.Nflags |= uint8(networkNetFlagsNET_LOCAL)
	copy(in.Local.Addr[:4], []byte{127, 0, 0, 1})
	if err := Decode(raw(in), bpfrt.Clock{}, &r); err != nil || r.Event.Net.NewFD == nil || *r.Event.Net.NewFD != 0 ||
		r.Event.Net.Local.Addr != "127.0.0.1" {
		t.Errorf("dup: %v %+v", err, r.Event.Net)
	}
	in.Kind = bpfpolicy.KindID(event.KindOpen)
	if err := Decode(raw(in), bpfrt.Clock{}, &r); !errors.Is(err, ErrMalformed) {
		t.Errorf("open kind in a network record: %v", err)
	}
	if err := Decode(raw(in)[:10], bpfrt.Clock{}, &r); !errors.Is(err, ErrMalformed) {
		t.Errorf("short record: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	var in networkNetRecord
	in.Kind = bpfpolicy.KindID(event.KindAccept)
	f.Add(raw(in))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		_ = Decode(b, bpfrt.Clock{}, &r) // must not panic
	})
}
