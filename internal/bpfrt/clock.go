package bpfrt

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock converts BPF timestamps (bpf_ktime_get_boot_ns, CLOCK_BOOTTIME) to
// wall clock time. vigil uses the boot clock everywhere because /proc start
// times count from boot including suspend, and the two must compare. The offset is taken once: wall-clock steps after start shift
// event times by the step, which beats a syscall per event.
type Clock struct {
	offset time.Duration // wall - monotonic
}

// NewClock measures the current offset between the wall clock and
// CLOCK_BOOTTIME.
func NewClock() Clock {
	var ts unix.Timespec
	before := time.Now()
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) // cannot fail for this clock id
	after := time.Now()
	mid := before.Add(after.Sub(before) / 2)
	return Clock{offset: time.Duration(mid.UnixNano() - ts.Nano())}
}

// Time converts a CLOCK_BOOTTIME nanosecond timestamp to wall clock time.
func (c Clock) Time(ktimeNs uint64) time.Time {
	return time.Unix(0, int64(ktimeNs)+int64(c.offset))
}

// BootNow returns CLOCK_BOOTTIME now, in the BPF timestamps' unit.
func BootNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return uint64(ts.Nano())
}
