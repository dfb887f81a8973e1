package route

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxPatternSegments bounds the segments of a configured pattern, which
// lets Match split a path once into a fixed-size array on the stack.
const MaxPatternSegments = 32

// Matcher maps paths to routes the user configured. Patterns are paths
// whose segments are literals, parameters ({name}, or :name as in Beyla and
// Gin) that match any one segment, or a final * that matches any number of
// further segments, including none:
//
//	/users/{id}
//	/api/{version}/items/{item}
//	/static/*
//
// Paths are compared segment by segment after the same clean-up Collapse
// does (query, ";params", empty segments and a trailing slash do not
// matter). The first matching pattern, in configuration order, wins.
//
// A Matcher is immutable and safe for concurrent use. A nil *Matcher has no
// patterns.
type Matcher struct {
	patterns []pattern
}

type pattern struct {
	text string
	segs []patternSegment
	// rest is true when the pattern ends in *.
	rest bool
}

type patternSegment struct {
	literal string // empty for a parameter
}

// NewMatcher compiles patterns. An invalid pattern is an error that quotes
// it and says what is wrong.
func NewMatcher(patterns []string) (*Matcher, error) {
	m := &Matcher{patterns: make([]pattern, 0, len(patterns))}
	// Patterns that match the same paths (/a/{id} and /a/:x/) make the
	// later one dead configuration, which is almost certainly a mistake.
	seen := make(map[string]string, len(patterns))
	var errs []error
	for _, text := range patterns {
		p, err := compile(text)
		if err == nil {
			if earlier, ok := seen[p.shape()]; ok {
				err = fmt.Errorf("matches the same paths as %q, listed before it", earlier)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("route pattern %q: %w", text, err))
			continue
		}
		seen[p.shape()] = text
		m.patterns = append(m.patterns, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

func compile(text string) (pattern, error) {
	p := pattern{text: text}
	switch {
	case text == "":
		return p, errors.New("empty pattern")
	case text[0] != '/':
		return p, errors.New("must start with '/'")
	case !utf8.ValidString(text):
		return p, errors.New("not valid UTF-8")
	}
	body := strings.TrimSuffix(text[1:], "/")
	if body == "" {
		return p, nil // the root, "/"
	}
	parts := strings.Split(body, "/")
	for i, s := range parts {
		last := i == len(parts)-1
		switch {
		case s == "":
			return p, errors.New("empty segment (\"//\")")
		case s == Rest && last:
			p.rest = true
		case strings.Contains(s, Rest):
			return p, errors.New("'*' must be the whole last segment")
		case s[0] == '{' || s[len(s)-1] == '}':
			name, ok := strings.CutPrefix(s, "{")
			name, ok2 := strings.CutSuffix(name, "}")
			if !ok || !ok2 || name == "" || strings.ContainsAny(name, "{}") {
				return p, fmt.Errorf("segment %q: a parameter is a whole segment of the form {name}", s)
			}
			p.segs = append(p.segs, patternSegment{})
		case s[0] == ':':
			if len(s) == 1 {
				return p, fmt.Errorf("segment %q: a parameter needs a name, as in :id", s)
			}
			p.segs = append(p.segs, patternSegment{})
		case strings.ContainsAny(s, "{}"):
			return p, fmt.Errorf("segment %q: a parameter is a whole segment of the form {name}", s)
		case strings.ContainsAny(s, "?#;"):
			// Match never sees these: the query, fragment and ;params
			// are removed from paths before matching.
			return p, fmt.Errorf("segment %q: '?', '#' and ';' cannot match a path segment", s)
		case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return p, fmt.Errorf("segment %q: control character", s)
		default:
			p.segs = append(p.segs, patternSegment{literal: s})
		}
	}
	if len(p.segs) > MaxPatternSegments {
		return p, fmt.Errorf("more than %d segments", MaxPatternSegments)
	}
	return p, nil
}

// Match returns the first pattern that matches path. It does not allocate.
func (m *Matcher) Match(path string) (string, bool) {
	if m == nil || len(m.patterns) == 0 {
		return "", false
	}
	// Split once; more is true when path has more segments than fit,
	// which only a pattern ending in * can match.
	var segs [MaxPatternSegments]string
	n, more := 0, false
	it := segments{rest: pathOf(path)}
	for seg, ok := it.next(); ok; seg, ok = it.next() {
		if n == len(segs) {
			more = true
			break
		}
		segs[n] = seg
		n++
	}
	for i := range m.patterns {
		p := &m.patterns[i]
		if len(p.segs) > n || (!p.rest && (more || len(p.segs) != n)) {
			continue
		}
		if matchSegments(p.segs, segs[:len(p.segs)]) {
			return p.text, true
		}
	}
	return "", false
}

// shape is the pattern with parameter names erased: two patterns with the
// same shape match the same paths.
func (p *pattern) shape() string {
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		if s.literal == "" {
			b.WriteString("{}")
		} else {
			b.WriteString(s.literal)
		}
	}
	if p.rest {
		b.WriteString("/*")
	}
	return b.String()
}

func matchSegments(pat []patternSegment, segs []string) bool {
	for i, ps := range pat {
		if ps.literal != "" && ps.literal != segs[i] {
			return false
		}
	}
	return true
}

// Route returns the first pattern matching path, else Collapse(path).
func (m *Matcher) Route(path string) string {
	if r, ok := m.Match(path); ok {
		return r
	}
	return Collapse(path)
}
