package bpfrt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// PollInterval bounds how long a record can wait in the ring buffer: the
// BPF side wakes the reader only once enough bytes are pending (see
// WakeupBytes), so the reader also looks on its own.
// Each look is a wake-up of a thread blocked in epoll_wait, and the Go
// runtime's hand-off of its P around it: at 10 ms those wake-ups were two
// thirds of vigil's CPU in an exec storm on this VM (bench/NOTES.md,
// "ring polls every 50 ms").
// Enforcement happens in the kernel, so 50 ms only delays what userspace
// reports.
const PollInterval = 50 * time.Millisecond

// maxBatch bounds the records handed over at once.
const maxBatch = 256

// Record is one raw ring buffer record in a reusable buffer.
type Record struct {
	buf []byte
}

// Bytes returns the record's payload. It is valid until its batch is
// released.
func (r *Record) Bytes() []byte { return r.buf }

// Batch is records in ring order, handed to the consumer together: a
// channel operation per record cost more than decoding it.
type Batch struct {
	Records []*Record
	slots   []Record // the reusable records Records points into
}

// Stats counts what happened to records from one source.
type Stats struct {
	Received atomic.Uint64 // read from the ring buffer
}

// Queue is a ring buffer drained into a bounded number of reusable
// batches. When consumers fall behind, the reader waits for a free batch
// and the records stay in the kernel ring, which is far larger; only when
// that is full too does the kernel drop records, and count them (Lost).
type Queue struct {
	source string
	rd     *ringbuf.Reader
	lost   *ebpf.Map
	ch     chan *Batch
	free   chan *Batch
	stats  Stats

	closeOnce sync.Once
	closed    chan struct{}
}

// NewQueue reads ring buffer rb into batches holding about capacity records
// in all. lost, if not nil, is the BPF per-CPU counter of records the
// kernel could not write.
func NewQueue(source string, rb, lost *ebpf.Map, capacity int) (*Queue, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("queue %s: capacity must be positive, got %d", source, capacity)
	}
	rd, err := ringbuf.NewReader(rb)
	if err != nil {
		return nil, fmt.Errorf("queue %s: open ring buffer reader: %w", source, err)
	}
	// Two batches at least, so the reader fills one while the consumer
	// works on the other.
	n := max(2, (capacity+maxBatch-1)/maxBatch)
	q := &Queue{
		source: source,
		rd:     rd,
		lost:   lost,
		ch:     make(chan *Batch, n),
		free:   make(chan *Batch, n),
		closed: make(chan struct{}),
	}
	for range n {
		q.free <- &Batch{slots: make([]Record, maxBatch), Records: make([]*Record, 0, maxBatch)}
	}
	return q, nil
}

// Source names the queue's sensor, the `source` label of lost counters.
func (q *Queue) Source() string { return q.source }

// Batches is the channel consumers read; it is closed when Run returns.
// Release every batch when done with it.
func (q *Queue) Batches() <-chan *Batch { return q.ch }

// Release returns a batch to the queue for reuse.
func (q *Queue) Release(b *Batch) {
	b.Records = b.Records[:0]
	select {
	case q.free <- b:
	default: // cannot happen: as many slots as batches
	}
}

// Stats returns the queue's counters.
func (q *Queue) Stats() *Stats { return &q.stats }

// Lost returns how many records the kernel could not write because the
// ring buffer was full.
func (q *Queue) Lost() (uint64, error) {
	if q.lost == nil {
		return 0, nil
	}
	return SumPerCPU(q.lost, 0)
}

// Run drains the ring buffer until ctx is done, Drain has delivered the
// last records, or Close is called; then it closes Batches.
func (q *Queue) Run(ctx context.Context) error {
	defer close(q.ch)
	stop := context.AfterFunc(ctx, func() { q.Close() })
	defer stop()

	var b *Batch
	// send hands the batch over; it cannot block, as there are only so
	// many batches.
	send := func() {
		if b != nil && len(b.Records) > 0 {
			q.ch <- b
			b = nil
		}
	}
	defer send()
	q.rd.SetDeadline(time.Now().Add(PollInterval))
	for {
		if b == nil {
			select {
			case b = <-q.free:
			case <-q.closed:
				return nil
			}
		}
		rec := &b.slots[len(b.Records)]
		// ReadInto polls before it reads, and records submitted without
		// a wakeup are only found when the poll times out: a deadline is
		// always set. It is renewed only when the ring is empty, not per
		// record (a clock read and a lock each); a stale one makes the
		// poll return at once, and the data pending is still read.
		if q.rd.AvailableBytes() == 0 {
			q.rd.SetDeadline(time.Now().Add(PollInterval))
		}
		raw := ringbuf.Record{RawSample: rec.buf[:0]}
		err := q.rd.ReadInto(&raw)
		rec.buf = raw.RawSample
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			send() // nothing more pending: deliver what was read, poll again
			continue
		case errors.Is(err, ringbuf.ErrClosed), errors.Is(err, ringbuf.ErrFlushed):
			// Closed, or drained after Drain: every record written
			// before has been delivered.
			return nil
		default:
			return fmt.Errorf("queue %s: read ring buffer: %w", q.source, err)
		}
		q.stats.Received.Add(1)
		b.Records = append(b.Records, rec)
		if len(b.Records) == maxBatch || q.rd.AvailableBytes() == 0 {
			send()
		}
	}
}

// Drain makes Run return once the ring buffer is empty: everything the
// kernel wrote before the call is delivered first. Call it at shutdown after
// the programs are detached, so no record is left unread.
func (q *Queue) Drain() error {
	// Flush, unlike SetDeadline, does not wait for the reader's lock, which
	// a blocked ReadInto holds.
	if err := q.rd.Flush(); err != nil {
		return fmt.Errorf("queue %s: flush ring buffer: %w", q.source, err)
	}
	return nil
}

// Close stops Run and frees the reader.
func (q *Queue) Close() error {
	var err error
	q.closeOnce.Do(func() {
		close(q.closed)
		err = q.rd.Close()
	})
	return err
}
