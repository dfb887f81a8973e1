package metrics

// DurationBuckets returns the bucket upper bounds, in seconds, of the
// request duration histograms: the OpenTelemetry HTTP default, as the
// metrics contract (docs/metrics.md) requires. Each call returns a new slice.
func DurationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// BodySizeBuckets returns the bucket upper bounds, in bytes, of the body
// size histograms. Beyla's default (0 32 64 ... 8192) puts every body over
// 8 KiB in +Inf, where uploads and downloads are told apart; these go up
// to 8 MiB in steps of four. Every other Beyla bound (0 32 128 512 2048
// 8192) is kept, so queries and dashboards written for Beyla's buckets
// still find theirs. The 0 bucket counts requests without a body. Each call
// returns a new slice.
func BodySizeBuckets() []float64 {
	return []float64{0, 32, 128, 512, 2 << 10, 8 << 10, 32 << 10, 128 << 10, 512 << 10, 2 << 20, 8 << 20}
}

// histogram is a fixed-bucket histogram for use under a lock: plain
// counters, no atomics, since HTTP serialises every access with its mutex.
type histogram struct {
	bounds []float64 // shared by every histogram of a metric; never written
	counts []uint64  // per bucket, not cumulative; the last is +Inf
	sum    float64
}

func (h *histogram) observe(v float64) {
	// Linear search: with 11 to 14 bounds it beats a binary search, and
	// most values land in the first few buckets.
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i]++
	h.sum += v
}
