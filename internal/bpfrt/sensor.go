package bpfrt

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/kernel"
)

// SensorSpec is what every sensor hands the runtime: its BPF objects, how
// to configure them, where to attach them, and how to read their records.
// The collection must have a ring buffer map "events" and a per-CPU lost
// counter map "lost".
type SensorSpec struct {
	Name      string // `source` label and error prefix
	Spec      *ebpf.CollectionSpec
	Load      LoadOptions
	Hooks     []Hook
	RingBytes uint32 // size of "events": a power of two, at least a page
	QueueLen  int
	// Ring, when set, is another sensor's ring buffer that this one writes
	// into instead of its own: the records of both arrive in one order,
	// read by the owner's queue, and this sensor has no queue (RingBytes
	// and QueueLen are ignored).
	Ring *ebpf.Map
	// Syscalls is the dispatcher SyscallExit hooks go through; their
	// programs' objects also get its stage arrays (to chain into). Sensors
	// of one agent share one. Nil: the sensor loads its own, closed with it.
	Syscalls *Syscalls
}

// Sensor is a loaded, attached sensor and the queue its ring buffer feeds
// (nil when it writes into another sensor's ring).
type Sensor struct {
	Coll  *ebpf.Collection
	links *Links
	queue *Queue
	// ownSys is the dispatcher the sensor loaded because none was given.
	ownSys *Syscalls
}

// WakeupBytes is how much pending data makes a sensor's programs wake the
// ring's reader (wakeup_bytes in bpf/lib/vigil.h): 256 KiB, or an eighth of
// a smaller ring, so that a small ring still wakes its reader long before
// it is full. Fewer wake-ups are the cheapest CPU vigil can save: each is a
// context switch, and under wrk 256 KiB used a fifth less CPU per request
// than 64 KiB.
func WakeupBytes(ringBytes uint32) uint32 { return min(256<<10, ringBytes/8) }

// StartSensor loads, attaches and starts reading a sensor. On error nothing
// stays in the kernel.
func StartSensor(s SensorSpec) (*Sensor, error) {
	if err := CheckSyscalls(s.Hooks); err != nil {
		return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
	}
	if s.Ring != nil {
		info, err := s.Ring.Info()
		if err != nil {
			return nil, fmt.Errorf("%s sensor: shared ring buffer: %w", s.Name, err)
		}
		s.RingBytes = info.MaxEntries
	}
	if s.RingBytes&(s.RingBytes-1) != 0 || s.RingBytes < uint32(os.Getpagesize()) {
		return nil, fmt.Errorf("%s sensor: ring buffer size %d is not a power of two of at least a page", s.Name, s.RingBytes)
	}
	for _, h := range s.Hooks {
		if h.Kind == Tracepoint {
			// Before any tracepoint is attached in this process: the
			// library remembers where tracefs is (or that it is not).
			if _, err := kernel.EnsureTracefs(); err != nil {
				return nil, fmt.Errorf("%s sensor: tracefs is needed for tracepoints: %w", s.Name, err)
			}
			break
		}
	}
	opts := s.Load
	if _, ok := s.Spec.Variables["wakeup_bytes"]; ok {
		consts := maps.Clone(opts.Constants)
		if consts == nil {
			consts = map[string]any{}
		}
		consts["wakeup_bytes"] = WakeupBytes(s.RingBytes)
		opts.Constants = consts
	}
	sizes := map[string]uint32{"events": s.RingBytes}
	for k, v := range opts.MapSizes {
		sizes[k] = v
	}
	opts.MapSizes = sizes
	var ownSys *Syscalls
	if s.Syscalls == nil && slices.ContainsFunc(s.Hooks, func(h Hook) bool { return h.Kind == SyscallExit }) {
		var err error
		if ownSys, err = NewSyscalls(); err != nil {
			return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
		}
		s.Syscalls = ownSys
	}
	sensor, err := startSensor(s, opts)
	if err != nil {
		ownSys.Close()
		return nil, err
	}
	sensor.ownSys = ownSys
	return sensor, nil
}

func startSensor(s SensorSpec, opts LoadOptions) (*Sensor, error) {
	replace := map[string]*ebpf.Map{}
	if s.Ring != nil {
		replace["events"] = s.Ring
	}
	if s.Syscalls != nil {
		maps.Copy(replace, s.Syscalls.Maps())
	}
	maps.Copy(replace, opts.MapReplacements)
	opts.MapReplacements = replace
	coll, err := Load(s.Spec, opts)
	if err != nil {
		return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
	}
	var q *Queue
	if s.Ring == nil {
		q, err = NewQueue(s.Name, coll.Maps["events"], coll.Maps["lost"], s.QueueLen)
		if err != nil {
			coll.Close()
			return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
		}
	}
	links, err := Attach(coll, s.Hooks, s.Syscalls)
	if err != nil {
		if q != nil {
			q.Close()
		}
		coll.Close()
		return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
	}
	return &Sensor{Coll: coll, links: links, queue: q}, nil
}

// Queue is where the sensor's raw records arrive; nil for a sensor that
// writes into another's ring.
func (s *Sensor) Queue() *Queue { return s.queue }

// Lost returns how many of this sensor's records the kernel could not
// write because the ring buffer was full.
func (s *Sensor) Lost() (uint64, error) { return SumPerCPU(s.Coll.Maps["lost"], 0) }

// Skipped lists the optional hooks this kernel or architecture has no
// tracepoint or syscall for.
func (s *Sensor) Skipped() []Hook { return s.links.Skipped }

// Detach stops the kernel side from producing records; those already in the
// ring buffer can still be read. Safe to call more than once, concurrently.
func (s *Sensor) Detach() error { return s.links.Close() }

// Close detaches and unloads everything the sensor put in the kernel.
func (s *Sensor) Close() error {
	err := s.Detach()
	if s.queue != nil {
		err = errors.Join(err, s.queue.Close())
	}
	s.Coll.Close()
	return errors.Join(err, s.ownSys.Close())
}

// SelfFilter is the value of a sensor's `filter_tgid` constant: this
// process's id when its own activity is to be dropped in the kernel, else 0.
func SelfFilter(exclude bool) uint32 {
	if exclude {
		return uint32(os.Getpid())
	}
	return 0
}

// Bool turns a flag into a `volatile const __u8` value.
func Bool(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
