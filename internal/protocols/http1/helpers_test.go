package http1

import (
	"fmt"
	"strings"
	"testing"
)

// tsOf gives chunk i of a test stream distinct, increasing timestamps.
func tsOf(i int) (enter, exit uint64) {
	return uint64(i+1) * 1000, uint64(i+1)*1000 + 10
}

// chunksAt cuts stream at the given increasing offsets, capturing everything.
func chunksAt(stream []byte, cuts ...int) []Chunk {
	var out []Chunk
	prev := 0
	for _, c := range append(cuts, len(stream)) {
		enter, exit := tsOf(len(out))
		out = append(out, Chunk{
			Pos:   uint64(prev),
			Size:  uint32(c - prev),
			Data:  stream[prev:c],
			Enter: enter,
			Exit:  exit,
		})
		prev = c
	}
	return out
}

// parse feeds chunks to a new parser and closes it at closeTs, returning the
// messages with the parser's stats.
func parse(request bool, expect []string, chunks []Chunk, closeTs uint64) ([]Message, Stats) {
	p := NewRequestParser()
	if !request {
		p = NewResponseParser()
	}
	for _, m := range expect {
		p.ExpectResponseTo(m)
	}
	var msgs []Message
	collect := func(m *Message) { msgs = append(msgs, *m) }
	for _, c := range chunks {
		p.Feed(c, collect)
	}
	p.Close(closeTs, collect)
	return msgs, p.Stats()
}

// untimed returns m without timestamps, which depend on how a stream was cut.
func untimed(m Message) Message {
	m.Start, m.End = 0, 0
	m.FirstEnter, m.FirstExit, m.LastEnter, m.LastExit = 0, 0, 0, 0
	return m
}

func diffMessages(got, want []Message) string {
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			fmt.Fprintf(&b, "\nmissing message %d: %+v", i, want[i])
		case i >= len(want):
			fmt.Fprintf(&b, "\nextra message %d: %+v", i, got[i])
		case untimed(got[i]) != untimed(want[i]):
			fmt.Fprintf(&b, "\nmessage %d:\n got  %+v\n want %+v", i, untimed(got[i]), untimed(want[i]))
		}
	}
	return b.String()
}

// checkAllSplits parses stream whole, cut at every offset, cut at every pair
// of offsets (for short streams) and one byte per chunk, and requires the
// same messages and counters every time.
func checkAllSplits(t *testing.T, request bool, expect []string, stream string, want []Message, wantStats Stats) {
	t.Helper()
	b := []byte(stream)
	check := func(name string, chunks []Chunk) bool {
		got, stats := parse(request, expect, chunks, 1<<40)
		if d := diffMessages(got, want); d != "" {
			t.Errorf("%s:%s", name, d)
			return false
		}
		if stats != wantStats {
			t.Errorf("%s: stats %+v, want %+v", name, stats, wantStats)
			return false
		}
		return true
	}
	if !check("whole", chunksAt(b)) {
		return
	}
	for i := 1; i < len(b); i++ {
		if !check(fmt.Sprintf("cut at %d", i), chunksAt(b, i)) {
			return
		}
	}
	if len(b) <= 512 {
		for i := 1; i < len(b); i++ {
			for j := i + 1; j < len(b); j++ {
				if !check(fmt.Sprintf("cut at %d,%d", i, j), chunksAt(b, i, j)) {
					return
				}
			}
		}
	}
	bytewise := make([]int, 0, len(b))
	for i := 1; i < len(b); i++ {
		bytewise = append(bytewise, i)
	}
	check("byte per chunk", chunksAt(b, bytewise...))
}

// request and response build expected messages with the defaults of a
// complete HTTP/1.1 message without body; tests adjust the rest.
func request(method, target string, header string) Message {
	return Message{
		Request: true, Method: method, Target: target, Proto: "HTTP/1.1",
		ContentLength: -1, KeepAlive: true, HeaderBytes: uint64(len(header)), Complete: true,
	}
}

func response(status int, header string, answers uint64) Message {
	return Message{
		Proto: "HTTP/1.1", Status: status, ContentLength: -1, KeepAlive: true,
		HeaderBytes: uint64(len(header)), Answers: answers, Complete: true,
	}
}
