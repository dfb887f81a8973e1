// Package sockdata is the socket data sensor: for TCP connections that
// start like HTTP/1.x, the bytes each read- or write-like syscall carried,
// with stream positions and timestamps, for the userspace protocol parsers.
package sockdata

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfrt"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "sockdata"

// Options configure the sensor.
type Options struct {
	// ExcludeSelf drops the calling process's connections in the kernel.
	ExcludeSelf bool
	// RingBytes is the ring buffer size (power of two, at least a page).
	// Default 16 MiB.
	RingBytes uint32
	// QueueLen is the number of records buffered in userspace. Default 8192.
	QueueLen int
	// MaxConns bounds the tracked connections (LRU). Default 65536.
	MaxConns uint32
	// SelectOnly tracks only connections of processes and ports marked
	// Select (SetProcess, SetPort); otherwise all but those marked Exclude.
	SelectOnly bool
}

// dataSyscalls are the syscalls whose entry and exit are both hooked, by
// tracepoint name; each has programs enter_<name> and exit_<name>.
var dataSyscalls = []string{
	"read", "recvfrom", "readv", "recvmsg",
	"write", "sendto", "writev", "sendmsg", "sendfile64",
	"accept", "accept4", "connect",
}

func hooks() []bpfrt.Hook {
	var hs []bpfrt.Hook
	for _, sc := range dataSyscalls {
		hs = append(hs,
			bpfrt.Hook{Program: "enter_" + sc, Kind: bpfrt.Tracepoint, Group: "syscalls", Name: "sys_enter_" + sc},
			bpfrt.Hook{Program: "exit_" + sc, Kind: bpfrt.Tracepoint, Group: "syscalls", Name: "sys_exit_" + sc},
		)
	}
	return append(hs, bpfrt.Hook{Program: "enter_close", Kind: bpfrt.Tracepoint, Group: "syscalls", Name: "sys_enter_close"})
}

// Sensor owns the loaded programs, their links and the queue they feed.
type Sensor struct {
	coll  *ebpf.Collection
	links *bpfrt.Links
	queue *bpfrt.Queue
}

// New loads and attaches the sensor. The caller must Close it.
func New(opts Options) (*Sensor, error) {
	if opts.RingBytes == 0 {
		opts.RingBytes = 16 << 20
	}
	if opts.QueueLen == 0 {
		opts.QueueLen = 8192
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 65536
	}
	if opts.RingBytes&(opts.RingBytes-1) != 0 || opts.RingBytes < uint32(os.Getpagesize()) {
		return nil, fmt.Errorf("sockdata sensor: ring buffer size %d is not a power of two of at least a page", opts.RingBytes)
	}
	spec, err := loadSockdata()
	if err != nil {
		return nil, fmt.Errorf("sockdata sensor: %w", err)
	}
	var self uint32
	if opts.ExcludeSelf {
		self = uint32(os.Getpid())
	}
	coll, err := bpfrt.Load(spec, bpfrt.LoadOptions{
		Constants: map[string]any{"filter_tgid": self, "select_only": boolByte(opts.SelectOnly)},
		MapSizes:  map[string]uint32{"events": opts.RingBytes, "conns": opts.MaxConns},
	})
	if err != nil {
		return nil, fmt.Errorf("sockdata sensor: %w", err)
	}
	s := &Sensor{coll: coll}
	s.queue, err = bpfrt.NewQueue(Source, coll.Maps["events"], coll.Maps["lost"], opts.QueueLen)
	if err != nil {
		coll.Close()
		return nil, fmt.Errorf("sockdata sensor: %w", err)
	}
	s.links, err = bpfrt.Attach(coll, hooks())
	if err != nil {
		s.queue.Close()
		coll.Close()
		return nil, fmt.Errorf("sockdata sensor: %w", err)
	}
	return s, nil
}

// SetProcess marks process tgid for selection (bits of selector.Bits: 1
// select, 2 exclude); 0 removes the mark. New connections see it at once.
func (s *Sensor) SetProcess(tgid uint32, bits uint8) error {
	m := s.coll.Maps["sel_procs"]
	if bits == 0 {
		if err := m.Delete(tgid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("unmark process %d: %w", tgid, err)
		}
		return nil
	}
	if err := m.Put(tgid, bits); err != nil {
		return fmt.Errorf("mark process %d: %w", tgid, err)
	}
	return nil
}

// SetPort marks a port like SetProcess marks a process.
func (s *Sensor) SetPort(port uint16, bits uint8) error {
	m := s.coll.Maps["sel_ports"]
	if bits == 0 {
		if err := m.Delete(port); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("unmark port %d: %w", port, err)
		}
		return nil
	}
	if err := m.Put(port, bits); err != nil {
		return fmt.Errorf("mark port %d: %w", port, err)
	}
	return nil
}

// Classified returns how many connections the kernel classified as HTTP/1
// and as something else (whose bytes are then never captured).
func (s *Sensor) Classified() (http1, other uint64, err error) {
	m := s.coll.Maps["classified"]
	sum := func(k uint32) (uint64, error) {
		var vals []uint64
		if err := m.Lookup(k, &vals); err != nil {
			return 0, fmt.Errorf("read classification counter: %w", err)
		}
		var n uint64
		for _, v := range vals {
			n += v
		}
		return n, nil
	}
	if http1, err = sum(1); err != nil {
		return 0, 0, err
	}
	other, err = sum(2)
	return http1, other, err
}

// Queue is where the sensor's raw records arrive; decode them with Decode.
func (s *Sensor) Queue() *bpfrt.Queue { return s.queue }

// Detach stops the kernel side from producing records.
func (s *Sensor) Detach() error {
	return s.links.Close()
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Close detaches and unloads everything the sensor put in the kernel.
func (s *Sensor) Close() error {
	err := errors.Join(s.Detach(), s.queue.Close())
	s.coll.Close()
	return err
}
