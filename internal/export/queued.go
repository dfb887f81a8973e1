package export

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/redact"
)

// QueuedWriter writes events one a line from a goroutine of its own, so
// that a slow reader (a stdout pipe nobody drains, a full disk) never holds
// up the agent's pipeline: events are encoded at once and queued, and when
// the queue is full they are dropped and counted. Nor does such a reader
// hold up the agent's exit: Close gives up when its context ends. A write
// that fails (a stdout whose reader went away: EPIPE) ends the writing for
// good: every line after it is dropped and counted, and Failed says so, so
// that the owner can log it once and carry on, or stop.
type QueuedWriter struct {
	keep    func(*event.Event) bool
	encode  Encoder
	ch      chan []byte
	done    chan struct{}
	dropped atomic.Uint64
	// unwritten counts the lines queued or being written: those Close
	// reports when it gives up.
	unwritten atomic.Int64

	mu  sync.Mutex
	err error

	// failed is set, and failedCh closed, by the first failed write.
	failed     atomic.Bool
	failedCh   chan struct{}
	failedOnce sync.Once

	closeOnce sync.Once
}

// maxWrite bounds one write(2): lines queued meanwhile are written in
// bursts of up to this many bytes.
const maxWrite = 64 << 10

// Encoder renders an event as one line, without the newline. The line must
// not alias anything the caller reuses.
type Encoder func(*event.Event) ([]byte, error)

// JSONLine renders the event contract (docs/events.md).
func JSONLine(ev *event.Event) ([]byte, error) {
	// MarshalJSON directly: json.Marshal would validate and copy its
	// output once more.
	b, err := ev.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", ev.Kind, err)
	}
	return b, nil
}

// TextLine renders the line for people of FormatText.
func TextLine(ev *event.Event) ([]byte, error) { return []byte(FormatText(ev)), nil }

// Redacted is enc with the secrets in every argv an event carries hidden
// first (internal/redact): what vigil writes out, not what its rules see.
func Redacted(enc Encoder) Encoder {
	return func(ev *event.Event) ([]byte, error) { return enc(redact.Event(ev)) }
}

// NewQueuedWriter writes the events keep accepts to w, encoded, holding at
// most capacity lines that are not written yet. Close stops it.
func NewQueuedWriter(w io.Writer, capacity int, keep func(*event.Event) bool, encode Encoder) *QueuedWriter {
	q := &QueuedWriter{keep: keep, encode: encode, ch: make(chan []byte, capacity), done: make(chan struct{}), failedCh: make(chan struct{})}
	go q.run(w)
	return q
}

// Handle encodes ev and queues the line; it never blocks.
func (q *QueuedWriter) Handle(ev *event.Event) {
	if !q.keep(ev) {
		return
	}
	if q.failed.Load() {
		q.dropped.Add(1) // the output is gone: not worth encoding
		return
	}
	b, err := q.encode(ev)
	if err != nil {
		q.fail(err)
		q.dropped.Add(1)
		return
	}
	q.unwritten.Add(1)
	select {
	case q.ch <- append(b, '\n'):
	default:
		q.unwritten.Add(-1)
		q.dropped.Add(1)
	}
}

// run writes lines out, one write(2) per burst rather than per line.
func (q *QueuedWriter) run(w io.Writer) {
	defer close(q.done)
	buf := make([]byte, 0, maxWrite)
	lines := int64(0) // in buf
	failed := false   // a write failed: the output is gone
	flush := func() {
		if lines == 0 {
			return
		}
		if _, err := w.Write(buf); err != nil {
			q.fail(fmt.Errorf("write events: %w", err))
			q.dropped.Add(uint64(lines))
			failed = true
			q.failed.Store(true)
			q.failedOnce.Do(func() { close(q.failedCh) })
		}
		q.unwritten.Add(-lines)
		buf, lines = buf[:0], 0
	}
	for line := range q.ch {
		if failed {
			q.unwritten.Add(-1)
			q.dropped.Add(1)
			continue
		}
		if len(buf) > 0 && len(buf)+len(line) > maxWrite {
			flush()
		}
		buf = append(buf, line...)
		lines++
		if len(q.ch) == 0 {
			flush()
		}
	}
	flush()
}

func (q *QueuedWriter) fail(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.mu.Unlock()
}

// Err returns the first write or encoding error. An event that cannot be
// encoded is dropped; after a write error, every line is.
func (q *QueuedWriter) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Failed is closed when a write fails: the output is gone (for a pipe,
// its reader closed it: errors.Is(Err(), syscall.EPIPE)), and no line is
// written any more; each is dropped and counted.
func (q *QueuedWriter) Failed() <-chan struct{} { return q.failedCh }

// WriteFailed reports whether a write failed (Failed is closed).
func (q *QueuedWriter) WriteFailed() bool { return q.failed.Load() }

// Dropped counts the lines not written: queue full, after an error, or
// abandoned by Close.
func (q *QueuedWriter) Dropped() uint64 { return q.dropped.Load() }

// stallTimeout is how long Close waits for a write that makes no progress.
const stallTimeout = 250 * time.Millisecond

// Close writes out what is queued and stops. It gives up when ctx ends, or
// when no line has been written for stallTimeout (a reader that stopped
// reading), and then returns an error saying how many lines were not
// written (the one being written may have gone out in part) and counts them
// as dropped; the writing goroutine is left blocked in its write until the
// process exits. Handle must not be called after Close.
func (q *QueuedWriter) Close(ctx context.Context) error {
	q.closeOnce.Do(func() { close(q.ch) })
	tick := time.NewTicker(stallTimeout / 5)
	defer tick.Stop()
	last, lastChange := q.unwritten.Load(), time.Now()
	for {
		// Done first: with nothing left to write, an ended ctx (a shutdown
		// budget spent by a slow start) is no failure.
		select {
		case <-q.done:
			return nil
		default:
		}
		select {
		case <-q.done:
			return nil
		case <-ctx.Done():
			if q.unwritten.Load() == 0 {
				return nil // the writer is only returning
			}
			return q.abandon(context.Cause(ctx))
		case now := <-tick.C:
			if n := q.unwritten.Load(); n != last {
				last, lastChange = n, now
			} else if now.Sub(lastChange) >= stallTimeout {
				return q.abandon(fmt.Errorf("no line written for %v", stallTimeout))
			}
		}
	}
}

// abandon counts what is left unwritten as dropped.
func (q *QueuedWriter) abandon(why error) error {
	n := q.unwritten.Load()
	q.dropped.Add(uint64(n))
	return fmt.Errorf("%d lines not written, or only in part: the reader is not keeping up: %w", n, why)
}
