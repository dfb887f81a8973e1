package export

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"

	"github.com/vigil-dev/vigil/internal/event"
)

// QueuedWriter writes events as JSON lines from a goroutine of its own, so
// that a slow reader (a stdout pipe nobody drains, a full disk) never holds
// up the agent's pipeline: events are encoded at once and queued, and when
// the queue is full they are dropped and counted.
type QueuedWriter struct {
	keep    func(*event.Event) bool
	ch      chan []byte
	done    chan struct{}
	dropped atomic.Uint64

	mu  sync.Mutex
	err error

	closeOnce sync.Once
}

// NewQueuedWriter writes the events keep accepts to w, holding at most
// capacity lines that are not written yet. Close stops it.
func NewQueuedWriter(w io.Writer, capacity int, keep func(*event.Event) bool) *QueuedWriter {
	q := &QueuedWriter{keep: keep, ch: make(chan []byte, capacity), done: make(chan struct{})}
	go q.run(w)
	return q
}

// Handle encodes ev and queues the line; it never blocks.
func (q *QueuedWriter) Handle(ev *event.Event) {
	if !q.keep(ev) {
		return
	}
	// MarshalJSON directly: json.Marshal would validate and copy its
	// output once more.
	b, err := ev.MarshalJSON()
	if err != nil {
		q.fail(err)
		return
	}
	select {
	case q.ch <- append(b, '\n'):
	default:
		q.dropped.Add(1)
	}
}

// run writes lines out, one write(2) per burst rather than per line.
func (q *QueuedWriter) run(w io.Writer) {
	defer close(q.done)
	bw := bufio.NewWriterSize(w, 64<<10)
	pending := uint64(0) // buffered, not yet flushed
	for line := range q.ch {
		if q.Err() != nil {
			q.dropped.Add(1)
			continue
		}
		bw.Write(line) // errors surface at Flush
		pending++
		if len(q.ch) > 0 {
			continue
		}
		if err := bw.Flush(); err != nil {
			q.fail(err)
			q.dropped.Add(pending)
		}
		pending = 0
	}
}

func (q *QueuedWriter) fail(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.mu.Unlock()
}

// Err returns the first write or encoding error; lines after it are
// dropped.
func (q *QueuedWriter) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Dropped counts the lines not written: queue full, or after an error.
func (q *QueuedWriter) Dropped() uint64 { return q.dropped.Load() }

// Close writes out what is queued and stops. Handle must not be called
// after it.
func (q *QueuedWriter) Close() {
	q.closeOnce.Do(func() { close(q.ch) })
	<-q.done
}
