package bpfrt

import "testing"

// A ring is woken every 256 KiB, or every eighth of a smaller ring, and
// always at a power of two (the BPF side masks with it).
func TestWakeupBytes(t *testing.T) {
	for ring, want := range map[uint32]uint32{4096: 512, 1 << 20: 128 << 10, 2 << 20: 256 << 10, 16 << 20: 256 << 10, 1 << 30: 256 << 10} {
		got := WakeupBytes(ring)
		if got != want || got&(got-1) != 0 {
			t.Errorf("WakeupBytes(%d) = %d, want %d", ring, got, want)
		}
	}
}
