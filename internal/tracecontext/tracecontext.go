// Package tracecontext reads W3C Trace Context (traceparent) headers and
// makes trace and span ids, for the spans vigil derives from requests.
package tracecontext

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sync"
)

// TraceID and SpanID are W3C trace context ids.
type (
	TraceID [16]byte
	SpanID  [8]byte
)

// IsValid reports whether the id is not all zeros, which W3C forbids.
func (t TraceID) IsValid() bool { return t != TraceID{} }

// IsValid reports whether the id is not all zeros, which W3C forbids.
func (s SpanID) IsValid() bool { return s != SpanID{} }

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// Parent is what a traceparent header says: the trace, and the span the
// request was sent from.
type Parent struct {
	TraceID TraceID
	SpanID  SpanID
	Flags   byte
}

// Parse reads a traceparent header value ("00-<32 hex>-<16 hex>-<2 hex>")
// as W3C Trace Context level 1 specifies: lowercase hex only, version ff
// and all-zero ids are invalid, and a version above 00 may carry more
// fields after the four known ones.
func Parse(s string) (Parent, bool) {
	var p Parent
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return p, false
	}
	version, ok := hexByte(s[0:2])
	if !ok || version == 0xff || (version == 0 && len(s) != 55) || (len(s) > 55 && s[55] != '-') {
		return p, false
	}
	if !decodeLower(p.TraceID[:], s[3:35]) || !decodeLower(p.SpanID[:], s[36:52]) {
		return p, false
	}
	if p.Flags, ok = hexByte(s[53:55]); !ok {
		return p, false
	}
	return p, p.TraceID.IsValid() && p.SpanID.IsValid()
}

func hexByte(s string) (byte, bool) {
	var b [1]byte
	ok := decodeLower(b[:], s)
	return b[0], ok
}

// decodeLower decodes lowercase hex only: W3C forbids uppercase.
func decodeLower(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := nibble(s[2*i])
		lo, ok2 := nibble(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func nibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// IDs makes random trace and span ids. It is safe for concurrent use.
type IDs struct {
	mu  sync.Mutex
	rng *rand.ChaCha8
}

// NewIDs seeds a generator from the system's random source.
func NewIDs() *IDs {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails on Linux
	return &IDs{rng: rand.NewChaCha8(seed)}
}

// TraceID returns a new, valid trace id.
func (g *IDs) TraceID() TraceID {
	var t TraceID
	g.mu.Lock()
	defer g.mu.Unlock()
	for !t.IsValid() {
		binary.LittleEndian.PutUint64(t[:8], g.rng.Uint64())
		binary.LittleEndian.PutUint64(t[8:], g.rng.Uint64())
	}
	return t
}

// SpanID returns a new, valid span id.
func (g *IDs) SpanID() SpanID {
	var s SpanID
	g.mu.Lock()
	defer g.mu.Unlock()
	for !s.IsValid() {
		binary.LittleEndian.PutUint64(s[:], g.rng.Uint64())
	}
	return s
}
