package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-dev/vigil/internal/event"
)

func all(*event.Event) bool { return true }

// eventWithPID returns an exec event whose pid numbers it and whose one
// argument pads its line to about size bytes.
func eventWithPID(pid, size int) *event.Event {
	return &event.Event{Time: time.Unix(0, 0), Kind: event.KindExec, Process: event.Process{PID: uint32(pid), Args: []string{strings.Repeat("a", size)}}}
}

// pids decodes the JSON lines of out and returns their pids in order.
func pids(t *testing.T, out []byte) []int {
	t.Helper()
	var got []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v struct {
			Process struct{ PID int } `json:"process"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, v.Process.PID)
	}
	return got
}

// syncBuffer is a bytes.Buffer safe to read while the writer goroutine
// writes, slowed by delay per write.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	time.Sleep(b.delay)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

func TestQueuedWriterWritesEveryLineInOrder(t *testing.T) {
	var out syncBuffer
	q := NewQueuedWriter(&out, 100, func(ev *event.Event) bool { return ev.Process.PID%2 == 0 }, JSONLine)
	for pid := range 50 {
		q.Handle(eventWithPID(pid, 10))
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := pids(t, out.buf.Bytes())
	if len(got) != 25 || q.Dropped() != 0 {
		t.Fatalf("%d lines written, %d dropped; want the 25 even pids", len(got), q.Dropped())
	}
	for i, pid := range got {
		if pid != 2*i {
			t.Fatalf("line %d has pid %d, want %d", i, pid, 2*i)
		}
	}
}

// blockingWriter blocks every write until release is closed.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	buf     bytes.Buffer
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return w.buf.Write(p)
}

// A full queue drops and counts; everything is accounted for.
func TestQueuedWriterCountsWhatAFullQueueDrops(t *testing.T) {
	w := newBlockingWriter()
	q := NewQueuedWriter(w, 10, all, JSONLine)
	q.Handle(eventWithPID(0, 10))
	<-w.entered // the first line is being written: 10 more fit
	for pid := 1; pid <= 30; pid++ {
		q.Handle(eventWithPID(pid, 10))
	}
	if q.Dropped() != 20 {
		t.Fatalf("dropped %d, want 20", q.Dropped())
	}
	close(w.release)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := pids(t, w.buf.Bytes()); len(got) != 11 || got[10] != 10 {
		t.Fatalf("written pids %v, want 0-10", got)
	}
}

// A reader that stops reading does not hold Close up: it gives up after
// stallTimeout and counts every line as not written.
func TestQueuedWriterCloseGivesUpOnAStuckReader(t *testing.T) {
	w := newBlockingWriter()
	defer close(w.release)
	q := NewQueuedWriter(w, 100, all, JSONLine)
	for pid := range 40 {
		q.Handle(eventWithPID(pid, 10))
	}
	<-w.entered
	start := time.Now()
	err := q.Close(context.Background())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "40 lines not written") {
		t.Fatalf("Close: %v, want 40 lines not written", err)
	}
	if took < stallTimeout || took > stallTimeout+time.Second {
		t.Errorf("Close gave up after %v, want about %v", took, stallTimeout)
	}
	if q.Dropped() != 40 {
		t.Errorf("dropped %d, want 40", q.Dropped())
	}
}

// A slow reader that keeps reading gets everything, however long it takes
// beyond stallTimeout; a context that ends stops the wait all the same.
func TestQueuedWriterCloseWaitsForASlowReader(t *testing.T) {
	out := &syncBuffer{delay: stallTimeout / 3}
	q := NewQueuedWriter(out, 100, all, JSONLine)
	for pid := range 20 {
		q.Handle(eventWithPID(pid, maxWrite/4)) // four lines a write
	}
	start := time.Now()
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < stallTimeout {
		t.Errorf("5 writes of %v took only %v", out.delay, took)
	}
	if got := pids(t, out.buf.Bytes()); len(got) != 20 || q.Dropped() != 0 {
		t.Fatalf("%d lines written, %d dropped, in %d writes; want 20, 0", len(got), q.Dropped(), out.writes)
	}

	out = &syncBuffer{delay: stallTimeout / 3}
	q = NewQueuedWriter(out, 100, all, JSONLine)
	for pid := range 20 {
		q.Handle(eventWithPID(pid, maxWrite/4))
	}
	ctx, cancel := context.WithTimeout(context.Background(), stallTimeout/2)
	defer cancel()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a short deadline: %v", err)
	}
}

type failingWriter struct{ writes int }

func (w *failingWriter) Write([]byte) (int, error) {
	w.writes++
	return 0, errors.New("disk full")
}

// After a write error, lines are dropped and counted, and Err says why.
func TestQueuedWriterDropsAfterAnError(t *testing.T) {
	w := &failingWriter{}
	q := NewQueuedWriter(w, 100, all, JSONLine)
	for pid := range 5 {
		q.Handle(eventWithPID(pid, 10))
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.Err() == nil || !strings.Contains(q.Err().Error(), "disk full") {
		t.Fatalf("Err: %v", q.Err())
	}
	if q.Dropped() != 5 {
		t.Fatalf("dropped %d, want 5", q.Dropped())
	}
}

// A pipe whose reader went away (`vigil run | head -c 100`): the writer
// says so once, through Failed, and every line after it, queued or
// handled later, is dropped and counted, never encoded.
func TestQueuedWriterOnABrokenPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	encoded := 0
	q := NewQueuedWriter(w, 100, all, func(ev *event.Event) ([]byte, error) {
		encoded++
		return JSONLine(ev)
	})
	if q.WriteFailed() {
		t.Fatal("failed before any write")
	}
	q.Handle(eventWithPID(1, 10))
	select {
	case <-q.Failed():
	case <-time.After(5 * time.Second):
		t.Fatal("Failed not closed after a write into a broken pipe")
	}
	if !q.WriteFailed() || !errors.Is(q.Err(), syscall.EPIPE) {
		t.Fatalf("WriteFailed %v, Err %v: want EPIPE", q.WriteFailed(), q.Err())
	}
	for pid := 2; pid <= 10; pid++ {
		q.Handle(eventWithPID(pid, 10))
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.Dropped() != 10 || encoded != 1 {
		t.Fatalf("dropped %d, encoded %d; want 10 dropped, only the first encoded", q.Dropped(), encoded)
	}
}

// Close with a context already ended (a shutdown budget a slow start
// spent) is no failure when nothing is left to write.
func TestQueuedWriterCloseWithNothingLeftAndNoTime(t *testing.T) {
	var out syncBuffer
	q := NewQueuedWriter(&out, 100, all, JSONLine)
	q.Handle(eventWithPID(1, 10))
	for deadline := time.Now().Add(5 * time.Second); q.unwritten.Load() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the line was never written")
		}
		time.Sleep(time.Millisecond)
	}
	for range 100 { // the race it had was one of two select cases
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := q.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}
