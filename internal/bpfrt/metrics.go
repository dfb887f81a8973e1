package bpfrt

import "github.com/vigil-dev/vigil/internal/selfmetrics"

var unseen = selfmetrics.NewCounter("vigil_syscalls_unseen_total",
	"Syscalls the syscall sensors could not look at, by reason (compat: a 32-bit call).", "reason")

// Register adds the ring's metrics: the records read from it.
func (r *Ring) Register(m *selfmetrics.Set) {
	m.Add(selfmetrics.RingRecords, r.q.stats.Received.Load, r.Name())
}

// Register adds the sensor's metrics: the records the kernel lost.
func (s *Sensor) Register(m *selfmetrics.Set) {
	m.AddReader(selfmetrics.Lost, s.Lost, s.name)
}

// Register adds the dispatcher's metrics: the syscalls it passed over.
func (s *Syscalls) Register(m *selfmetrics.Set) {
	m.AddReader(unseen, s.CompatExits, "compat")
}
