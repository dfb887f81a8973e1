package bpfrt

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock converts BPF timestamps (bpf_ktime_get_ns, CLOCK_MONOTONIC) to wall
// clock time. The offset is taken once: wall-clock steps after start shift
// event times by the step, which beats a syscall per event.
type Clock struct {
	offset time.Duration // wall - monotonic
}

// NewClock measures the current offset between the wall clock and
// CLOCK_MONOTONIC.
func NewClock() Clock {
	var ts unix.Timespec
	before := time.Now()
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock id
	after := time.Now()
	mid := before.Add(after.Sub(before) / 2)
	return Clock{offset: time.Duration(mid.UnixNano() - ts.Nano())}
}

// Time converts a CLOCK_MONOTONIC nanosecond timestamp to wall clock time.
func (c Clock) Time(ktimeNs uint64) time.Time {
	return time.Unix(0, int64(ktimeNs)+int64(c.offset))
}

// MonotonicNow returns CLOCK_MONOTONIC now, in the BPF timestamps' unit.
func MonotonicNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}
