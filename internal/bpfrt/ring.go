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
// WAKEUP_BYTES in bpf/lib/vigil.h), so the reader also looks on its own.
const PollInterval = 10 * time.Millisecond

// Record is one raw ring buffer record in a reusable buffer. Consumers must
// call Queue.Release when done with it and must not keep Bytes after that.
type Record struct {
	buf []byte
}

// Bytes returns the record's payload.
func (r *Record) Bytes() []byte { return r.buf }

// Stats counts what happened to records from one source.
type Stats struct {
	Received atomic.Uint64 // read from the ring buffer
}

// Queue is a ring buffer drained into a bounded queue of reusable records,
// handed to the consumer in batches: a channel operation per record cost
// more than decoding it. When consumers fall behind, the reader waits for a
// free record and the records stay in the kernel ring, which is far larger;
// only when that is full too does the kernel drop records, and count them
// (Lost).
type Queue struct {
	source  string
	rd      *ringbuf.Reader
	lost    *ebpf.Map
	ch      chan []*Record
	free    chan *Record
	batches sync.Pool // of *[]*Record
	stats   Stats

	closeOnce sync.Once
	closed    chan struct{}
}

// NewQueue reads ring buffer rb into a queue of capacity records. lost, if
// not nil, is the BPF per-CPU counter of records the kernel could not write.
func NewQueue(source string, rb, lost *ebpf.Map, capacity int) (*Queue, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("queue %s: capacity must be positive, got %d", source, capacity)
	}
	rd, err := ringbuf.NewReader(rb)
	if err != nil {
		return nil, fmt.Errorf("queue %s: open ring buffer reader: %w", source, err)
	}
	q := &Queue{
		source: source,
		rd:     rd,
		lost:   lost,
		ch:     make(chan []*Record, capacity),
		free:   make(chan *Record, capacity),
		closed: make(chan struct{}),
	}
	q.batches.New = func() any { b := make([]*Record, 0, maxBatch); return &b }
	for range capacity {
		q.free <- &Record{}
	}
	return q, nil
}

// Source names the queue's sensor, the `source` label of lost counters.
func (q *Queue) Source() string { return q.source }

// maxBatch bounds the records handed over at once.
const maxBatch = 256

// Batches is the channel consumers read: records in ring order, in batches.
// It is closed when Run returns. Release every batch when done with it.
func (q *Queue) Batches() <-chan []*Record { return q.ch }

// Release returns a batch and its records to the queue for reuse.
func (q *Queue) Release(batch []*Record) {
	for _, r := range batch {
		select {
		case q.free <- r:
		default: // cannot happen: as many records as slots
		}
	}
	batch = batch[:0]
	q.batches.Put(&batch)
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
// last records, or Close is called; then it closes Records.
func (q *Queue) Run(ctx context.Context) error {
	defer close(q.ch)
	stop := context.AfterFunc(ctx, func() { q.Close() })
	defer stop()

	batch := *q.batches.Get().(*[]*Record)
	// send hands the batch over; it cannot block, as at most capacity
	// records are out and so at most capacity batches.
	send := func() {
		if len(batch) > 0 {
			q.ch <- batch
			batch = *q.batches.Get().(*[]*Record)
		}
	}
	defer send()
	for {
		var rec *Record
		select {
		case rec = <-q.free:
		default:
			send() // the consumer holds every record: give it what is read
			select {
			case rec = <-q.free:
			case <-q.closed:
				return nil
			}
		}
		q.rd.SetDeadline(time.Now().Add(PollInterval))
		raw := ringbuf.Record{RawSample: rec.buf[:0]}
		err := q.rd.ReadInto(&raw)
		rec.buf = raw.RawSample
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			q.free <- rec // nothing pending: poll again
			send()
			continue
		case errors.Is(err, ringbuf.ErrClosed), errors.Is(err, ringbuf.ErrFlushed):
			// Closed, or drained after Drain: every record written
			// before has been delivered.
			q.free <- rec
			return nil
		default:
			q.free <- rec
			return fmt.Errorf("queue %s: read ring buffer: %w", q.source, err)
		}
		q.stats.Received.Add(1)
		batch = append(batch, rec)
		if len(batch) == maxBatch || q.rd.AvailableBytes() == 0 {
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
