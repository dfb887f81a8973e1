package policy

import (
	"slices"
	"strings"
)

// strMatcher is a StringSelector compiled for evaluation in Go: the
// userspace half of selectors with globs, and the reference semantics the
// kernel's tries implement for the others.
type strMatcher struct {
	exact, prefix     []string
	globs             []glob
	notIn, notPrefix  []string
	notGlobs          []glob
	positive, needsGo bool
}

func compileStrSelector(s *StringSelector) *strMatcher {
	if s == nil {
		return nil
	}
	m := &strMatcher{
		exact: s.Exact, prefix: s.Prefix, notIn: s.NotIn, notPrefix: s.NotPrefix,
		positive: s.positive(), needsGo: s.userspace(),
	}
	for _, p := range s.Glob {
		g, _ := compileGlob(p) // validated before
		m.globs = append(m.globs, g)
	}
	for _, p := range s.NotGlob {
		g, _ := compileGlob(p)
		m.notGlobs = append(m.notGlobs, g)
	}
	return m
}

func (m *strMatcher) match(s string) bool {
	if m.positive && !m.anyPositive(s) {
		return false
	}
	if slices.Contains(m.notIn, s) || hasAnyPrefix(s, m.notPrefix) {
		return false
	}
	for i := range m.notGlobs {
		if m.notGlobs[i].match(s) {
			return false
		}
	}
	return true
}

func (m *strMatcher) anyPositive(s string) bool {
	if slices.Contains(m.exact, s) || hasAnyPrefix(s, m.prefix) {
		return true
	}
	for i := range m.globs {
		if m.globs[i].match(s) {
			return true
		}
	}
	return false
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// argsMatcher is an ArgsSelector compiled.
type argsMatcher struct {
	any, prefix, contains []string
	globs                 []glob
}

func compileArgsSelector(a *ArgsSelector) *argsMatcher {
	if a == nil {
		return nil
	}
	m := &argsMatcher{any: a.Any, prefix: a.Prefix, contains: a.Contains}
	for _, p := range a.Glob {
		g, _ := compileGlob(p)
		m.globs = append(m.globs, g)
	}
	return m
}

// match reports whether some element of argv after argv[0] matches.
func (m *argsMatcher) match(argv []string) bool {
	if len(argv) < 2 {
		return false
	}
	for _, a := range argv[1:] {
		if slices.Contains(m.any, a) || hasAnyPrefix(a, m.prefix) {
			return true
		}
		for _, c := range m.contains {
			if strings.Contains(a, c) {
				return true
			}
		}
		for i := range m.globs {
			if m.globs[i].match(a) {
				return true
			}
		}
	}
	return false
}

// baseName is what the name selector sees: the bytes after the last '/'
// (not path.Base, which would turn "/" into "/" and strip trailing
// slashes; the kernel does neither).
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}
