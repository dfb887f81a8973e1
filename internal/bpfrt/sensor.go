package bpfrt

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/internal/kernel"
)

// SensorSpec is what every sensor hands the runtime: its BPF objects, how
// to configure them, where to attach them, the ring its records go to and
// the record types it writes there. StartSensor is the one way a sensor
// gets into the kernel.
//
// The collection must have a ring buffer map "events" (replaced by Ring's)
// and a per-CPU lost counter map "lost"; its `self_tgid` constant, when it
// has one, is set to Self and its `filter_tgid` to Self when ExcludeSelf
// (bpf/lib/vigil.h), and `wakeup_bytes` from the ring's size.
type SensorSpec struct {
	Name string // `source` label and error prefix
	Spec *ebpf.CollectionSpec
	// Load configures the objects. Without Load.Programs, only the
	// programs the hooks name are loaded: the kernel never verifies a
	// program that would not be attached.
	Load  LoadOptions
	Hooks []Hook
	// Ring is where the sensor's programs write. Sensors that share a
	// ring share its order: the security sensors write into the process
	// sensor's, so that an event follows the exec it belongs to.
	Ring *Ring
	// Records are the record types the sensor writes: the agent routes
	// each to the sensor's decoder, and refuses two sensors claiming one.
	Records []RecordType
	// ExcludeSelf drops this process's own activity in the kernel.
	ExcludeSelf bool
	// Self is this process as the kernel knows it (SelfTGID), which no
	// rule ever kills or denies, whether or not ExcludeSelf. 0: StartSensor
	// asks the kernel, once per sensor; an agent asks once and hands it
	// to all of its sensors.
	Self uint32
	// Syscalls is the dispatcher SyscallExit hooks go through; their
	// programs' objects also get its stage arrays (to chain into). Sensors
	// of one agent share one. Nil: the sensor loads its own, closed with it.
	Syscalls *Syscalls
}

// Sensor is a loaded, attached sensor.
type Sensor struct {
	Coll    *ebpf.Collection
	name    string
	ring    *Ring
	records []RecordType
	links   *Links
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

// StartSensor loads and attaches a sensor. On error nothing stays in the
// kernel.
func StartSensor(s SensorSpec) (*Sensor, error) {
	if s.Ring == nil {
		return nil, fmt.Errorf("%s sensor: no ring buffer to write into", s.Name)
	}
	if err := CheckSyscalls(s.Hooks); err != nil {
		return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
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
	opts.Constants = maps.Clone(opts.Constants)
	if opts.Constants == nil {
		opts.Constants = map[string]any{}
	}
	if _, ok := s.Spec.Variables["wakeup_bytes"]; ok {
		opts.Constants["wakeup_bytes"] = WakeupBytes(s.Ring.Size())
	}
	_, filter := s.Spec.Variables["filter_tgid"]
	_, guard := s.Spec.Variables["self_tgid"]
	if (filter || guard) && s.Self == 0 {
		var err error
		if s.Self, err = SelfTGID(); err != nil {
			return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
		}
	}
	if filter {
		opts.Constants["filter_tgid"] = SelfFilter(s.Self, s.ExcludeSelf)
	}
	if guard {
		opts.Constants["self_tgid"] = s.Self
	}
	if len(opts.Programs) == 0 {
		for _, h := range s.Hooks {
			if !slices.Contains(opts.Programs, h.Program) {
				opts.Programs = append(opts.Programs, h.Program)
			}
		}
	}
	var ownSys *Syscalls
	if s.Syscalls == nil && slices.ContainsFunc(s.Hooks, func(h Hook) bool { return h.Kind == SyscallExit }) {
		var err error
		if ownSys, err = NewSyscalls(); err != nil {
			return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
		}
		s.Syscalls = ownSys
	}
	replace := map[string]*ebpf.Map{"events": s.Ring.Map()}
	if s.Syscalls != nil {
		maps.Copy(replace, s.Syscalls.Maps())
	}
	maps.Copy(replace, opts.MapReplacements)
	opts.MapReplacements = replace
	coll, err := Load(s.Spec, opts)
	if err != nil {
		ownSys.Close()
		return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
	}
	links, err := Attach(coll, s.Hooks, s.Syscalls)
	if err != nil {
		coll.Close()
		ownSys.Close()
		return nil, fmt.Errorf("%s sensor: %w", s.Name, err)
	}
	return &Sensor{Coll: coll, name: s.Name, ring: s.Ring, records: s.Records, links: links, ownSys: ownSys}, nil
}

// Name is the sensor's name, the `source` label of its lost counter.
func (s *Sensor) Name() string { return s.name }

// Ring is where the sensor's records arrive.
func (s *Sensor) Ring() *Ring { return s.ring }

// Records are the record types the sensor writes.
func (s *Sensor) Records() []RecordType { return s.records }

// Lost returns how many of this sensor's records the kernel could not
// write because the ring buffer was full.
func (s *Sensor) Lost() (uint64, error) { return SumPerCPU(s.Coll.Maps["lost"], 0) }

// Skipped lists the optional hooks this kernel or architecture has no
// tracepoint or syscall for.
func (s *Sensor) Skipped() []Hook { return s.links.Skipped }

// Detach stops the kernel side from producing records; those already in the
// ring buffer can still be read. Safe to call more than once, concurrently.
func (s *Sensor) Detach() error { return s.links.Close() }

// Close detaches and unloads everything the sensor put in the kernel. Its
// ring belongs to whoever made it.
func (s *Sensor) Close() error {
	err := s.Detach()
	s.Coll.Close()
	return errors.Join(err, s.ownSys.Close())
}

// SelfFilter is the value of a sensor's `filter_tgid` constant: self (the
// process's SelfTGID) when its own activity is to be dropped in the
// kernel, else 0.
func SelfFilter(self uint32, exclude bool) uint32 {
	if exclude {
		return self
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
