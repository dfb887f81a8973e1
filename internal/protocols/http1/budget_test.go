package http1

import (
	"strings"
	"testing"
)

// feedAt feeds one chunk of s at stream position pos and returns the
// position after it.
func feedAt(p *Parser, pos uint64, s string, emit func(*Message)) uint64 {
	p.Feed(Chunk{Pos: pos, Size: uint32(len(s)), Data: []byte(s), Enter: pos + 1, Exit: pos + 2}, emit)
	return pos + uint64(len(s))
}

// Partial header blocks of many connections are held within the budget:
// the oldest are given up first and counted, the newest keep theirs, and
// every parser's next message parses as usual.
func TestBudgetGivesUpTheOldestPartialBlocks(t *testing.T) {
	const n = 8
	b := NewBudget(4 * MaxHeaderBytes)
	parsers := make([]*Parser, n)
	pos := make([]uint64, n)
	var got [n]int
	head := "GET /x HTTP/1.1\r\nCookie: " + strings.Repeat("c", 9000) // no blank line yet
	for i := range parsers {
		p := NewRequestParser()
		p.SetBudget(b)
		parsers[i] = p
		// Two chunks: the first is buffered, the second grows the buffer.
		pos[i] = feedAt(p, 0, head[:5000], nil)
		pos[i] = feedAt(p, pos[i], head[5000:], nil)
		if b.Used() > 4*MaxHeaderBytes {
			t.Fatalf("after parser %d: %d bytes held, budget %d", i, b.Used(), 4*MaxHeaderBytes)
		}
	}
	var over uint64
	for i, p := range parsers {
		over += p.Stats().OverBudget
		// The oldest lost their partial message; the newest finish it.
		pos[i] = feedAt(p, pos[i], "\r\n\r\nGET /next HTTP/1.1\r\n\r\n", func(m *Message) {
			got[i]++
		})
	}
	if over == 0 || over >= n {
		t.Fatalf("%d of %d partial blocks given up; want the oldest, not all", over, n)
	}
	for i := range parsers {
		want := 2 // the big request and /next
		if uint64(i) < over {
			want = 1 // only /next: the rest of the big one was passed over
			if parsers[i].Stats().OverBudget != 1 {
				t.Errorf("parser %d (old): OverBudget %d, want 1", i, parsers[i].Stats().OverBudget)
			}
		}
		if got[i] != want {
			t.Errorf("parser %d: %d messages, want %d", i, got[i], want)
		}
	}
	if b.Used() != 0 {
		t.Errorf("%d bytes still held once every block is parsed", b.Used())
	}
}

// A parser whose own block is the oldest gives it up rather than take
// room from newer ones; Release and Close return what a parser holds.
func TestBudgetOwnBlockAndRelease(t *testing.T) {
	b := NewBudget(MaxHeaderBytes)
	old, young := NewRequestParser(), NewRequestParser()
	old.SetBudget(b)
	young.SetBudget(b)
	feedAt(old, 0, "GET / HTTP/1.1\r\nA: "+strings.Repeat("a", 9000), nil)
	feedAt(young, 0, "GET / HTTP/1.1\r\nB: "+strings.Repeat("b", 9000), nil)
	if old.Stats().OverBudget != 1 || young.Stats().OverBudget != 0 {
		t.Fatalf("over budget: old %d, young %d; want the old one given up", old.Stats().OverBudget, young.Stats().OverBudget)
	}
	young.Release()
	if b.Used() != 0 {
		t.Errorf("after Release: %d bytes held", b.Used())
	}
	feedAt(young, 0, "GET / HTTP/1.1\r\nB: "+strings.Repeat("b", 2000), nil)
	young.Close(1, func(*Message) {})
	if b.Used() != 0 {
		t.Errorf("after Close: %d bytes held", b.Used())
	}
}
