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
	queue   *Queue
}

// Release returns the batch to its queue for reuse: its records are not
// valid afterwards.
func (b *Batch) Release() { b.queue.release(b) }

// Source is the name of the ring the batch was read from.
func (b *Batch) Source() string { return b.queue.source }

// Ring is a BPF ring buffer that one or more sensors write records into
// (their objects' "events" map), and the queue that reads it. Whoever
// makes a ring hands it to the sensors that write into it and closes it
// after them.
type Ring struct {
	m *ebpf.Map
	q *Queue
}

// NewRing creates a ring buffer of size bytes (a power of two, at least a
// page), read into a queue of about queueLen records.
func NewRing(name string, size uint32, queueLen int) (*Ring, error) {
	if size&(size-1) != 0 || size < uint32(os.Getpagesize()) {
		return nil, fmt.Errorf("ring %s: size %d is not a power of two of at least a page", name, size)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "events", Type: ebpf.RingBuf, MaxEntries: size})
	if err != nil {
		return nil, fmt.Errorf("ring %s: create ring buffer: %w", name, err)
	}
	q, err := NewQueue(name, m, queueLen)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &Ring{m: m, q: q}, nil
}

// Name is the ring's name, the `source` label of vigil_ring_records_total.
func (r *Ring) Name() string { return r.q.source }

// Size is the ring buffer's size in bytes.
func (r *Ring) Size() uint32 { return r.m.MaxEntries() }

// Map is the ring buffer map, for the sensors that write into it.
func (r *Ring) Map() *ebpf.Map { return r.m }

// Queue is where the ring's records arrive.
func (r *Ring) Queue() *Queue { return r.q }

// Close stops the reader and frees the ring buffer (sensors that write
// into it hold their own reference until they close).
func (r *Ring) Close() error {
	err := r.q.Close()
	r.m.Close()
	return err
}

// Stats counts what happened to records from one source.
type Stats struct {
	Received atomic.Uint64 // read from the ring buffer
}

// Queue is a ring buffer drained into a bounded number of reusable
// batches. When consumers fall behind, the reader waits for a free batch
// and the records stay in the kernel ring, which is far larger; only when
// that is full too does the kernel drop records, and each sensor counts
// its own (Sensor.Lost).
type Queue struct {
	source string
	rd     *ringbuf.Reader
	free   chan *Batch
	stats  Stats

	closeOnce sync.Once
	closed    chan struct{}
}

// NewQueue reads ring buffer rb into batches holding about capacity records
// in all.
func NewQueue(source string, rb *ebpf.Map, capacity int) (*Queue, error) {
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
		free:   make(chan *Batch, n),
		closed: make(chan struct{}),
	}
	for range n {
		q.free <- &Batch{slots: make([]Record, maxBatch), Records: make([]*Record, 0, maxBatch), queue: q}
	}
	return q, nil
}

// Source names the queue's sensor, the `source` label of lost counters.
func (q *Queue) Source() string { return q.source }

// Batches is how many batches the queue has: a channel that several
// queues deliver into needs room for all of theirs for their readers
// never to wait on it.
func (q *Queue) Batches() int { return cap(q.free) }

func (q *Queue) release(b *Batch) {
	b.Records = b.Records[:0]
	select {
	case q.free <- b:
	default: // cannot happen: as many slots as batches
	}
}

// Stats returns the queue's counters.
func (q *Queue) Stats() *Stats { return &q.stats }

// Run drains the ring buffer into out, in ring order, until ctx is done,
// Drain has delivered the last records, or Close is called. Every batch is
// sent before Run returns; out is never closed (queues may share it).
// Release every batch received.
func (q *Queue) Run(ctx context.Context, out chan<- *Batch) error {
	stop := context.AfterFunc(ctx, func() { q.Close() })
	defer stop()

	var b *Batch
	// send hands the batch over. With room in out for every batch it
	// never waits; a reader closed meanwhile gives up its batch.
	send := func() {
		if b != nil && len(b.Records) > 0 {
			select {
			case out <- b:
			case <-q.closed:
			}
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

// Each reads the ring until ctx is done, calling f with every record in
// ring order; the bytes are valid during the call only. It is for tests
// and tools that read one ring; the agent reads all of its rings at once.
func (r *Ring) Each(ctx context.Context, f func(raw []byte)) error {
	out := make(chan *Batch, r.q.Batches())
	done := make(chan error, 1)
	go func() { done <- r.q.Run(ctx, out) }()
	deliver := func(b *Batch) {
		for _, rec := range b.Records {
			f(rec.Bytes())
		}
		b.Release()
	}
	for {
		select {
		case b := <-out:
			deliver(b)
		case err := <-done:
			// Run sent its last batch before it returned.
			for {
				select {
				case b := <-out:
					deliver(b)
				default:
					return err
				}
			}
		}
	}
}
