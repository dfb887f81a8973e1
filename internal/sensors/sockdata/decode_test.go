package sockdata

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
)

func v4(a, b, c, d byte, port uint16) sockdataEndpoint {
	return sockdataEndpoint{Addr: [16]uint8{a, b, c, d}, Port: port}
}

func v6mapped(a, b, c, d byte, port uint16) sockdataEndpoint {
	return sockdataEndpoint{Addr: [16]uint8{10: 0xff, 11: 0xff, 12: a, 13: b, 14: c, 15: d}, Port: port}
}

func openRecord(side Side, family uint16, local, peer sockdataEndpoint) []byte {
	r := sockdataConnOpenRecord{
		Type: uint8(bpfrt.RecordConnOpen), Side: uint8(side), Family: family,
		Pid: 10, Tid: 11, Fd: 5, Id: 77, KtimeNs: 1_000, Local: local, Peer: peer,
	}
	return bpftest.Raw(&r)
}

func dataRecord(dir Direction, flags uint8, size, captured uint32, data string) []byte {
	r := sockdataDataRecord{
		Type: uint8(bpfrt.RecordData), Direction: uint8(dir), Flags: flags,
		Pid: 10, Tid: 12, Size: size, Id: 77, Pos: 300, EnterNs: 2_000, ExitNs: 2_500, Captured: captured,
	}
	return bpftest.Raw(&r, data)
}

func closeRecord() []byte {
	r := sockdataConnCloseRecord{Type: uint8(bpfrt.RecordConnClose), Pid: 10, Id: 77, KtimeNs: 9_000, Pos: [2]uint64{123, 456}}
	return bpftest.Raw(&r)
}

func TestDecode(t *testing.T) {
	get := "GET / HTTP/1.1\r\n\r\n"
	for _, c := range []struct {
		name string
		raw  []byte
		want Record
	}{
		{"open, server, IPv4", openRecord(Server, 2, v4(127, 0, 0, 1, 8080), v4(127, 0, 0, 2, 40000)), Record{
			Type: bpfrt.RecordConnOpen, ConnID: 77, PID: 10, TID: 11, Side: Server, FD: 5, KtimeNs: 1_000,
			Local: event.Endpoint{Addr: "127.0.0.1", Port: 8080}, Peer: event.Endpoint{Addr: "127.0.0.2", Port: 40000},
		}},
		{"open, client, v4-mapped IPv6", openRecord(Client, 10, v6mapped(10, 0, 0, 1, 1234), v6mapped(10, 0, 0, 2, 80)), Record{
			Type: bpfrt.RecordConnOpen, ConnID: 77, PID: 10, TID: 11, Side: Client, FD: 5, KtimeNs: 1_000,
			Local: event.Endpoint{Addr: "10.0.0.1", Port: 1234}, Peer: event.Endpoint{Addr: "10.0.0.2", Port: 80},
		}},
		{"open, IPv6", openRecord(Server, 10, sockdataEndpoint{Addr: [16]uint8{15: 1}, Port: 443}, sockdataEndpoint{Addr: [16]uint8{0: 0xfe, 1: 0x80, 15: 2}, Port: 5}), Record{
			Type: bpfrt.RecordConnOpen, ConnID: 77, PID: 10, TID: 11, Side: Server, FD: 5, KtimeNs: 1_000,
			Local: event.Endpoint{Addr: "::1", Port: 443}, Peer: event.Endpoint{Addr: "fe80::2", Port: 5},
		}},
		{"data, ingress", dataRecord(Ingress, 0, uint32(len(get)), uint32(len(get)), get), Record{
			Type: bpfrt.RecordData, ConnID: 77, PID: 10, TID: 12, Direction: Ingress, Pos: 300, Size: uint32(len(get)),
			EnterNs: 2_000, ExitNs: 2_500, Data: []byte(get),
		}},
		{"data, egress, capture cut short", dataRecord(Egress, 0, 10_000, 4, "HTTP"), Record{
			Type: bpfrt.RecordData, ConnID: 77, PID: 10, TID: 12, Direction: Egress, Pos: 300, Size: 10_000,
			EnterNs: 2_000, ExitNs: 2_500, Data: []byte("HTTP"),
		}},
		{"data, sendfile, nothing captured", dataRecord(Egress, uint8(sockdataDataFlagsDATA_SENDFILE), 5_000, 0, ""), Record{
			Type: bpfrt.RecordData, ConnID: 77, PID: 10, TID: 12, Direction: Egress, Sendfile: true, Pos: 300, Size: 5_000,
			EnterNs: 2_000, ExitNs: 2_500, Data: []byte{},
		}},
		{"close", closeRecord(), Record{
			Type: bpfrt.RecordConnClose, ConnID: 77, PID: 10, KtimeNs: 9_000, Total: [2]uint64{123, 456},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got Record
			if err := Decode(c.raw, &got); err != nil {
				t.Fatal(err)
			}
			if string(got.Data) != string(c.want.Data) {
				t.Errorf("data %q, want %q", got.Data, c.want.Data)
			}
			got.Data, c.want.Data = nil, nil
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	open := openRecord(Server, 2, v4(127, 0, 0, 1, 80), v4(127, 0, 0, 1, 9))
	data := dataRecord(Ingress, 0, 3, 3, "GET")
	for name, raw := range map[string][]byte{
		"empty":                 nil,
		"unknown type":          append([]byte{99}, open[1:]...),
		"short open":            open[:openSize-1],
		"open, family AF_UNIX":  openRecord(Server, 1, v4(1, 2, 3, 4, 5), v4(1, 2, 3, 4, 5)),
		"open, no side":         openRecord(0, 2, v4(1, 2, 3, 4, 5), v4(1, 2, 3, 4, 5)),
		"short data":            data[:dataSize-1],
		"captured past the end": dataRecord(Ingress, 0, 100, 100, "GET"),
		"captured past size":    dataRecord(Ingress, 0, 2, 3, "GET"),
		"no direction":          dataRecord(0, 0, 3, 3, "GET"),
		"short close":           closeRecord()[:closeSize-1],
		"process record":        append([]byte{byte(bpfrt.RecordExec)}, make([]byte, 200)...),
	} {
		var r Record
		if err := Decode(raw, &r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(openRecord(Server, 2, v4(127, 0, 0, 1, 80), v4(127, 0, 0, 1, 9)))
	f.Add(openRecord(Client, 10, v6mapped(1, 2, 3, 4, 5), v6mapped(1, 2, 3, 4, 5)))
	f.Add(dataRecord(Ingress, 0, 18, 18, "GET / HTTP/1.1\r\n\r\n"))
	f.Add(dataRecord(Egress, 1, 9000, 0, ""))
	f.Add(closeRecord())
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r Record
		if err := Decode(raw, &r); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		switch r.Type {
		case bpfrt.RecordConnOpen:
			if r.Side != Server && r.Side != Client || r.Local.Addr == "" || r.Peer.Addr == "" || strings.Contains(r.Local.Addr, "invalid") {
				t.Fatalf("open record decoded to %+v", r)
			}
		case bpfrt.RecordData:
			if uint32(len(r.Data)) > r.Size || r.Direction != Ingress && r.Direction != Egress {
				t.Fatalf("data record decoded to %d bytes of %d, direction %d", len(r.Data), r.Size, r.Direction)
			}
			// Data aliases the record, inside its bounds.
			if len(r.Data) > 0 && &r.Data[len(r.Data)-1] != &raw[dataSize+len(r.Data)-1] {
				t.Fatal("data does not alias the record's tail")
			}
		case bpfrt.RecordConnClose:
		default:
			t.Fatalf("decoded record of type %d", r.Type)
		}
	})
}
