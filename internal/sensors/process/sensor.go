// Package process is the process lifecycle sensor: exec, fork and exit
// events from the sched tracepoints, decoded into vigil events.
package process

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/bpfrt"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "process"

// Options configure the sensor.
type Options struct {
	// ExcludeSelf drops events of the calling process in the kernel.
	ExcludeSelf bool
	// RingBytes is the ring buffer size: a power of two, multiple of the
	// page size. Default 8 MiB: at ~200 bytes an exec, about 40k events.
	RingBytes uint32
	// QueueLen is the number of records buffered in userspace. Default 4096.
	QueueLen int

	// exitByLiveCount selects the pre-6.16 exit detection (tests only).
	exitByLiveCount bool
}

// hooks is the sensor's attach table.
var hooks = []bpfrt.Hook{
	{Program: "handle_exec", Kind: bpfrt.RawTracepoint, Name: "sched_process_exec"},
	{Program: "handle_fork", Kind: bpfrt.RawTracepoint, Name: "sched_process_fork"},
	{Program: "handle_exit", Kind: bpfrt.Tracepoint, Group: "sched", Name: "sched_process_exit"},
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
		opts.RingBytes = 8 << 20
	}
	if opts.QueueLen == 0 {
		opts.QueueLen = 4096
	}
	if opts.RingBytes&(opts.RingBytes-1) != 0 || opts.RingBytes < uint32(os.Getpagesize()) {
		return nil, fmt.Errorf("process sensor: ring buffer size %d is not a power of two of at least a page", opts.RingBytes)
	}
	spec, err := loadProcess()
	if err != nil {
		return nil, fmt.Errorf("process sensor: %w", err)
	}
	var self uint32
	if opts.ExcludeSelf {
		self = uint32(os.Getpid())
	}
	coll, err := bpfrt.Load(spec, bpfrt.LoadOptions{
		Constants: map[string]any{"filter_tgid": self, "exit_by_live_count": boolByte(opts.exitByLiveCount)},
		MapSizes:  map[string]uint32{"events": opts.RingBytes},
	})
	if err != nil {
		return nil, fmt.Errorf("process sensor: %w", err)
	}
	s := &Sensor{coll: coll}
	s.queue, err = bpfrt.NewQueue(Source, coll.Maps["events"], coll.Maps["lost"], opts.QueueLen)
	if err != nil {
		coll.Close()
		return nil, fmt.Errorf("process sensor: %w", err)
	}
	s.links, err = bpfrt.Attach(coll, hooks)
	if err != nil {
		s.queue.Close()
		coll.Close()
		return nil, fmt.Errorf("process sensor: %w", err)
	}
	return s, nil
}

// Queue is where the sensor's raw records arrive; decode them with Decode.
func (s *Sensor) Queue() *bpfrt.Queue { return s.queue }

// Detach stops the kernel side from producing records; those already in the
// ring buffer can still be read.
func (s *Sensor) Detach() error {
	return s.links.Close()
}

// Close detaches and unloads everything the sensor put in the kernel.
func (s *Sensor) Close() error {
	return errors.Join(s.Detach(), s.queue.Close(), closeColl(s.coll))
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func closeColl(c *ebpf.Collection) error {
	c.Close()
	return nil
}
