package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem with a rule file. Its message names the file (and
// line, when known), the rule (when there is one), the field and the reason:
//
//	rules.yaml:12: rule "x": match.path.glob "**": too broad to filter ...
type Error struct {
	File   string
	Line   int
	Rule   string
	Field  string // where in the rule, e.g. `match.path.glob "**"`; may be empty
	Reason string
	Err    error // the underlying error, if any (yaml, CEL, os)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// errs collects the errors of one file, so that a user sees all of them at
// once rather than one per run. It stops collecting at maxErrors: a file of
// garbage should not produce megabytes of messages.
type errs struct {
	file  string
	list  []error
	items int // list items expanded so far (see maxFileItems)
}

const maxErrors = 50

func (c *errs) add(e *Error) {
	if e.File == "" {
		e.File = c.file
	}
	if len(c.list) < maxErrors {
		c.list = append(c.list, e)
	}
}

func (c *errs) full() bool { return len(c.list) >= maxErrors }

// ruleErr returns an adder for errors of rule r (at line).
func (c *errs) rule(name string, line int) func(fieldName, format string, args ...any) {
	return func(fieldName, format string, args ...any) {
		c.add(&Error{Line: line, Rule: name, Field: fieldName, Reason: fmt.Sprintf(format, args...)})
	}
}

func quoteField(name, value string) string {
	return name + " " + strconv.Quote(value)
}
