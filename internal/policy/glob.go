package policy

import (
	"errors"
	"path"
	"strings"
)

// glob is a compiled glob pattern: path.Match syntax within one '/'
// segment, plus "**" as a whole segment for any number of segments
// (including none).
type glob struct {
	segs []string
}

func compileGlob(p string) (glob, error) {
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "**" {
			continue
		}
		// path.Match checks the whole pattern even when the name does
		// not match, so this finds every syntax error.
		if _, err := path.Match(s, ""); err != nil {
			return glob{}, errors.New("bad glob syntax")
		}
	}
	return glob{segs: segs}, nil
}

// literalPrefix is the part of a glob before its first meta character: what
// the kernel filters on.
func literalPrefix(p string) string {
	if i := strings.IndexAny(p, `*?[\`); i >= 0 {
		return p[:i]
	}
	return p
}

// match reports whether s matches. It is the classic single-backtrack
// wildcard algorithm over segments, so it runs in O(len(segs)*segments(s))
// segment comparisons however many "**" the pattern has, and it does not
// allocate.
func (g *glob) match(s string) bool {
	p := g.segs
	end := len(s) + 1 // offset past the last segment
	pi, ti := 0, 0
	starP, starT := -1, 0
	for ti < end {
		seg, next := segment(s, ti)
		if pi < len(p) && p[pi] == "**" {
			starP, starT = pi, ti
			pi++
			continue
		}
		if pi < len(p) && segMatch(p[pi], seg) {
			pi, ti = pi+1, next
			continue
		}
		if starP < 0 {
			return false
		}
		// Let the last "**" swallow one more segment and retry.
		_, starT = segment(s, starT)
		pi, ti = starP+1, starT
	}
	for pi < len(p) && p[pi] == "**" {
		pi++
	}
	return pi == len(p)
}

// segment returns the segment of s starting at offset at, and the offset
// of the next one (len(s)+1 when it was the last).
func segment(s string, at int) (string, int) {
	if i := strings.IndexByte(s[at:], '/'); i >= 0 {
		return s[at : at+i], at + i + 1
	}
	return s[at:], len(s) + 1
}

func segMatch(pattern, name string) bool {
	ok, _ := path.Match(pattern, name) // patterns are checked at compile
	return ok
}
