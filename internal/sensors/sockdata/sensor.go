// Package sockdata is the socket data sensor: for TCP connections that
// start like HTTP/1.x, the bytes each read- or write-like syscall carried,
// with stream positions and timestamps, for the userspace protocol parsers.
package sockdata

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/selfmetrics"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "sockdata"

// Options configure the sensor.
type Options struct {
	// ExcludeSelf drops the calling process's connections in the kernel.
	ExcludeSelf bool
	// Self is this process as the kernel knows it (bpfrt.SelfTGID); 0:
	// the sensor asks the kernel.
	Self uint32
	// Ring is where the sensor writes its records.
	Ring *bpfrt.Ring
	// MaxConns bounds the tracked connections (LRU). Default 65536.
	MaxConns uint32
	// SelectOnly tracks only connections of processes and ports marked
	// Select (SetProcess, SetPort); otherwise all but those marked Exclude.
	SelectOnly bool
	// Syscalls is the agent's syscall dispatcher (nil: the sensor loads
	// its own). The sensor's programs are its observe stage.
	Syscalls *bpfrt.Syscalls
}

// exitSyscalls are the syscalls seen at their exit, by tracepoint name;
// each has a program exit_<name>, which reads the call's arguments from
// the saved registers.
var exitSyscalls = []string{
	"read", "recvfrom", "readv", "recvmsg",
	"write", "sendto", "writev", "sendmsg", "sendfile64",
	"accept", "accept4", "connect", "close", "dup3",
}

// legacySyscalls are hooked where the architecture has them: arm64 has no
// dup2, and its programs (glibc's dup2 included) call dup3, which is
// hooked, so a dup'ed-over connection still ends there.
var legacySyscalls = []string{"dup2"}

// Hooks is the sensor's attach table.
func Hooks() []bpfrt.Hook {
	return slices.Concat(bpfrt.SyscallExits(bpfrt.StageObserve, false, exitSyscalls...),
		bpfrt.SyscallExits(bpfrt.StageObserve, true, legacySyscalls...))
}

// Sensor is the loaded and attached socket data sensor.
type Sensor struct {
	*bpfrt.Sensor
}

// New loads and attaches the sensor. The caller must Close it.
func New(opts Options) (*Sensor, error) {
	if opts.MaxConns == 0 {
		opts.MaxConns = 65536
	}
	spec, err := loadSockdata()
	if err != nil {
		return nil, fmt.Errorf("sockdata sensor: %w", err)
	}
	s, err := bpfrt.StartSensor(bpfrt.SensorSpec{
		Name: Source,
		Spec: spec,
		Load: bpfrt.LoadOptions{
			Constants: map[string]any{"select_only": bpfrt.Bool(opts.SelectOnly)},
			MapSizes:  map[string]uint32{"conns": opts.MaxConns},
		},
		Hooks:       Hooks(),
		Ring:        opts.Ring,
		Records:     []bpfrt.RecordType{bpfrt.RecordConnOpen, bpfrt.RecordData, bpfrt.RecordConnClose},
		ExcludeSelf: opts.ExcludeSelf,
		Self:        opts.Self,
		Syscalls:    opts.Syscalls,
	})
	if err != nil {
		return nil, err
	}
	return &Sensor{s}, nil
}

// SetProcess marks process tgid for selection (bits of selector.Bits: 1
// select, 2 exclude); 0 removes the mark. New connections see it at once.
func (s *Sensor) SetProcess(tgid uint32, bits uint8) error {
	return setMark(s.Coll.Maps["sel_procs"], tgid, bits, "process")
}

// SetPort marks a port like SetProcess marks a process.
func (s *Sensor) SetPort(port uint16, bits uint8) error {
	return setMark(s.Coll.Maps["sel_ports"], port, bits, "port")
}

func setMark[K uint16 | uint32](m *ebpf.Map, key K, bits uint8, what string) error {
	if bits == 0 {
		if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("unmark %s %d: %w", what, key, err)
		}
		return nil
	}
	if err := m.Put(key, bits); err != nil {
		return fmt.Errorf("mark %s %d: %w", what, key, err)
	}
	return nil
}

// Classified returns how many connections the kernel classified as HTTP/1
// and as something else (whose bytes are then never captured).
func (s *Sensor) Classified() (http1, other uint64, err error) {
	m := s.Coll.Maps["classified"]
	if http1, err = bpfrt.SumPerCPU(m, 1); err != nil {
		return 0, 0, err
	}
	other, err = bpfrt.SumPerCPU(m, 2)
	return http1, other, err
}

var classifiedFamily = selfmetrics.NewCounter("vigil_http_connections_total",
	"TCP connections classified by their first bytes: http1 is captured, other (TLS, databases, malformed) is not.", "protocol")

// Register adds the sensor's metrics, beyond the lost counter every
// sensor has (bpfrt.Sensor.Register): how the kernel classified
// connections.
func (s *Sensor) Register(m *selfmetrics.Set) {
	for i, protocol := range []string{"http1", "other"} {
		m.AddReader(classifiedFamily, func() (uint64, error) {
			h1, other, err := s.Classified()
			return [2]uint64{h1, other}[i], err
		}, protocol)
	}
}
