// Package route turns HTTP request paths into low-cardinality routes for the
// `http.route` span attribute and the `http_route` metric label: either a
// pattern the user configured (see Matcher) or, failing that, the path with
// its identifier-like segments replaced by {id} (see Collapse).
//
// Nothing here allocates on a hit: a matched pattern is returned as stored,
// and a path Collapse leaves unchanged is returned as given.
package route

import (
	"strings"
	"unicode/utf8"
)

const (
	// ID replaces a path segment that looks like an identifier.
	ID = "{id}"

	// Rest replaces every segment after the first MaxSegments: deeper paths
	// are almost always file trees or encoded data, not distinct endpoints.
	Rest = "*"

	// MaxSegments is how many segments Collapse keeps, as in Beyla.
	MaxSegments = 10

	// MaxSegmentLen is the longest segment Collapse keeps verbatim; longer
	// ones are tokens, hashes or slugs, not endpoint names. It also bounds
	// the length of a collapsed route to MaxSegments*(MaxSegmentLen+1)+2.
	MaxSegmentLen = 64

	// MaxGrowth bounds how much longer than its input Collapse's result can
	// be: a one-byte segment becomes the four bytes of ID, and a path
	// without a leading slash gets one.
	MaxGrowth = MaxSegments*(len(ID)-1) + 1
)

// Collapse returns path's route by heuristic: identifier-like segments
// become {id}, so that /users/123/orders/9f2c4e1a reports as
// /users/{id}/orders/{id}.
//
// It is robust to what the wire may hold: a query string or fragment is
// dropped, an absolute-form target (http://host/p, sent to proxies) is
// reduced to its path, ";params" (jsessionid) are dropped from segments,
// empty segments (//) are dropped, and a path not starting with '/' is read
// as if it did. A trailing slash is kept, since /dir and /dir/ are often
// different handlers. Beyond MaxSegments segments the rest becomes "/*".
//
// The result always starts with '/', is valid UTF-8, is never more than
// MaxGrowth bytes longer than path, and is a fixed point:
// Collapse(Collapse(p)) == Collapse(p). A segment is an identifier when it
//
//   - is all digits: 42;
//   - is a UUID: 550e8400-e29b-41d4-a716-446655440000;
//   - is 8 or more hex digits including a decimal digit: 9f2c4e1a (so the
//     words "deadbeef" or "facade" stay);
//   - is digits and separators (. , : - _ +) only: 2024-01-15, 10.0.0.1;
//   - is 16 or more bytes with both letters and digits: ULIDs, base64
//     tokens, pod names (coredns-5d78c9869d-x2x4z);
//   - is 8 to 15 letters and digits, with both, not shaped like a name
//     (see nameShaped): short tokens and codes such as secret123 or
//     a8Fk2pQz, where debian12, sha256sum and v1alpha1 stay;
//   - is longer than MaxSegmentLen;
//   - holds an '@' (or %40): e-mail addresses and handles are personal
//     data as well as unbounded;
//   - is not valid UTF-8 or holds control characters, so every label value
//     is valid for Prometheus.
//
// An identifier followed by a short extension keeps it: 12345.jpg becomes
// {id}.jpg. Short words with digits stay as they are (v1, v2beta1, 2fa, s3,
// oauth2, ipv4, sha256): they name API versions and endpoints far more
// often than objects. Configure a Matcher pattern where the heuristic is
// wrong.
func Collapse(path string) string {
	var buf [256]byte
	b := AppendCollapse(buf[:0], path)
	if string(b) == path {
		return path
	}
	return string(b)
}

// AppendCollapse appends Collapse(path) to dst, allocating only when dst is
// too small; callers on a hot path can collapse into a stack buffer and
// intern the result.
func AppendCollapse(dst []byte, path string) []byte {
	p := pathOf(path)
	it := segments{rest: p}
	n := 0
	for seg, ok := it.next(); ok; seg, ok = it.next() {
		if n == MaxSegments {
			return append(dst, "/"+Rest...)
		}
		n++
		dst = append(dst, '/')
		dst = appendSegment(dst, seg)
	}
	if n == 0 || p[len(p)-1] == '/' {
		dst = append(dst, '/')
	}
	return dst
}

// pathOf returns the path part of a request target: without query string
// and fragment, and with the scheme and authority of an absolute-form
// target removed.
func pathOf(target string) string {
	for i := 0; i < len(target); i++ {
		if target[i] == '?' || target[i] == '#' {
			target = target[:i]
			break
		}
	}
	if target == "" || target[0] == '/' {
		return target
	}
	if i := strings.Index(target, "://"); i > 0 && isScheme(target[:i]) {
		target = target[i+len("://"):]
		if j := strings.IndexByte(target, '/'); j >= 0 {
			return target[j:]
		}
		return ""
	}
	return target
}

// isScheme reports whether s is a URI scheme (RFC 3986 section 3.1).
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c):
		case i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// segments iterates over the non-empty segments of a path, each without
// its ";params". Collapse and Matcher share it so that a pattern matches
// exactly the paths whose collapsed form it would replace.
type segments struct {
	rest string
}

func (s *segments) next() (string, bool) {
	// One byte loop rather than IndexByte calls: segments are short, and
	// the SIMD set-up of IndexByte costs more than it saves.
	for s.rest != "" {
		end, param := len(s.rest), -1
		for i := 0; i < len(s.rest); i++ {
			if c := s.rest[i]; c == '/' {
				end = i
				break
			} else if c == ';' && param < 0 {
				param = i
			}
		}
		seg := s.rest[:end]
		if end < len(s.rest) {
			s.rest = s.rest[end+1:]
		} else {
			s.rest = ""
		}
		if param >= 0 {
			seg = seg[:param]
		}
		if seg != "" {
			return seg, true
		}
	}
	return "", false
}

// appendSegment appends seg, or ID in its place when it is an identifier.
func appendSegment(dst []byte, seg string) []byte {
	if isID(seg) {
		return append(dst, ID...)
	}
	if i := strings.LastIndexByte(seg, '.'); i > 0 && isExtension(seg[i+1:]) && isID(seg[:i]) {
		dst = append(dst, ID...)
		return append(dst, seg[i:]...)
	}
	return append(dst, seg...)
}

// isExtension reports whether s looks like a file extension: up to five
// letters and digits, at least one a letter (json, mp4, gz).
func isExtension(s string) bool {
	if len(s) == 0 || len(s) > 5 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isLetter(c):
			letter = true
		case isDigit(c):
		default:
			return false
		}
	}
	return letter
}

// isID reports whether a segment looks like an identifier rather than a
// fixed part of the route; the rules are listed on Collapse. It must be
// false for ID and Rest themselves, which keeps Collapse idempotent.
func isID(s string) bool {
	if len(s) > MaxSegmentLen {
		return true
	}
	var digits, letters, hexLetters, seps int
	nonASCII, at, percent := false, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
			digits++
		case isLetter(c):
			letters++
			if c|0x20 >= 'a' && c|0x20 <= 'f' {
				hexLetters++
			}
		case c == '.' || c == ',' || c == ':' || c == '-' || c == '_' || c == '+':
			seps++
		case c == '@':
			at = true
		case c == '%':
			percent = true
		case c < 0x20 || c == 0x7f:
			return true
		case c >= utf8.RuneSelf:
			nonASCII = true
		}
	}
	n := len(s)
	switch {
	case nonASCII && !utf8.ValidString(s):
		return true
	case at || percent && strings.Contains(s, "%40"):
		return true
	case digits == n:
		return true
	case isUUID(s):
		return true
	case n >= 8 && digits > 0 && digits+hexLetters == n:
		return true
	case digits > 0 && digits+seps == n:
		return true
	case n >= 16 && digits > 0 && letters > 0:
		return true
	case n >= minToken && digits > 0 && letters > 0 && digits+letters == n:
		return !nameShaped(s)
	}
	return false
}

// minToken is the shortest run of letters and digits that nameShaped
// judges: shorter ones (v1, 2fa, oauth2, sha256, v2beta1) name versions and
// endpoints far more often than they hold a secret or an object's id.
const minToken = 8

// nameShaped reports whether s, 8 to 15 ASCII letters and digits with both,
// is shaped like a name rather than a token. Split into runs of letters (L)
// and of digits (D), a name is L D (debian12), D L (3dsecure), L D L
// (sha256sum, oauth2callback) or L D L D (v1alpha1); a run of digits at
// its end has at most two digits, any other at most three; and each run of
// letters is all upper case (HTTP), or has each capital but its first
// letter followed by a lower-case one (getUser, OAuth, iPhone; a final V
// before digits, as in getUserV2, too). So secret123, user4567, a8Fk2pQz,
// FaM6Rgx4 and k3j9x2mq are tokens.
func nameShaped(s string) bool {
	var shape [4]byte
	runs := 0
	for i := 0; i < len(s); {
		if runs == len(shape) {
			return false
		}
		j := i
		if isDigit(s[i]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			max := 3
			if j == len(s) {
				max = 2
			}
			if j-i > max {
				return false
			}
			shape[runs] = 'D'
		} else {
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			if !isWord(s[i:j], j < len(s)) {
				return false
			}
			shape[runs] = 'L'
		}
		runs++
		i = j
	}
	switch string(shape[:runs]) {
	case "LD", "DL", "LDL", "LDLD":
		return true
	}
	return false
}

// isWord reports whether s, ASCII letters, is a word as nameShaped
// defines it; digits follows it when beforeDigits.
func isWord(s string, beforeDigits bool) bool {
	lower := false
	for i := 0; i < len(s); i++ {
		if !isUpper(s[i]) {
			lower = true
			break
		}
	}
	if !lower {
		return true // an acronym: HTTP, ISO
	}
	for i := 1; i < len(s); i++ {
		if !isUpper(s[i]) {
			continue
		}
		if i+1 < len(s) && !isUpper(s[i+1]) {
			continue
		}
		if i+1 == len(s) && s[i] == 'V' && beforeDigits {
			continue // getUserV2
		}
		return false
	}
	return true
}

// isUUID reports whether s is a UUID in its canonical 8-4-4-4-12 form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isUpper(c byte) bool  { return 'A' <= c && c <= 'Z' }
