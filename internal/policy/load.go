package policy

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// BuiltinFile parses the built-in rule file (its lists are known to every
// rule file). Each call returns a new copy.
func BuiltinFile() (*File, error) {
	f, err := Parse(Builtin, defaultsYAML, nil)
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	return f, nil
}

// Defaults returns the built-in rules.
func Defaults() ([]*Rule, error) {
	f, err := BuiltinFile()
	if err != nil {
		return nil, err
	}
	return f.Rules, nil
}

// ReadFile reads a rule file, refusing one larger than MaxFileSize before
// reading it all, and one that is not a regular file (or a link to one): a
// named pipe nobody writes, a device or a directory would block the read,
// and with it vigil's start or SIGTERM, or never end.
func ReadFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if err := regular(path, fi); err != nil {
		return nil, err
	}
	// O_NONBLOCK: a file swapped for a named pipe since the Stat must not
	// block the open; a regular file ignores the flag.
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err != nil {
		return nil, err
	} else if err := regular(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Reason: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	return data, nil
}

// regular refuses what is not a regular file, naming what it is.
func regular(path string, fi os.FileInfo) error {
	var what string
	switch m := fi.Mode(); {
	case m.IsRegular():
		return nil
	case m.IsDir():
		what = "a directory"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m&os.ModeDevice != 0:
		what = "a device"
	default:
		what = "not a regular file"
	}
	return &Error{File: path, Reason: what + ": a rule file must be a regular file"}
}

// Load reads the built-in rules (unless builtins is false) and then each
// file in order. A file's disable list turns off rules loaded before it; a
// file's rule with the name of a built-in rule replaces it in place; any
// other repeated name is an error, as is more than MaxRules enabled rules
// in total. The built-in lists are known to every file either way, and a
// file may disable built-in rules even when they are not loaded, so that
// one file works with and without them. Disabled rules are returned too,
// with Enabled false.
func Load(files []string, builtins bool) ([]*Rule, error) {
	b, err := BuiltinFile()
	if err != nil {
		return nil, err
	}
	builtinNames := map[string]bool{}
	for _, r := range b.Rules {
		builtinNames[r.Name] = true
	}
	lists := map[string][]string{}
	for n, l := range b.Lists {
		lists[n] = l
	}
	var rules []*Rule
	index := map[string]int{}
	if builtins {
		for i, r := range b.Rules {
			rules = append(rules, r)
			index[r.Name] = i
		}
	}
	var problems []error
	for _, path := range files {
		data, err := ReadFile(path)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				err = &Error{File: path, Reason: err.Error(), Err: err}
			}
			problems = append(problems, err)
			continue
		}
		f, err := Parse(path, data, lists)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		for n, l := range f.Lists {
			lists[n] = l
		}
		for _, n := range f.Disable {
			if i, ok := index[n]; ok {
				rules[i].Enabled = false
			} else if !builtinNames[n] {
				problems = append(problems, &Error{File: path, Field: "disable", Reason: fmt.Sprintf("no rule %q was loaded before this file", n)})
			}
		}
		for _, r := range f.Rules {
			i, ok := index[r.Name]
			switch {
			case !ok:
				index[r.Name] = len(rules)
				rules = append(rules, r)
			case rules[i].Source == Builtin:
				rules[i] = r
			default:
				problems = append(problems, &Error{File: path, Line: r.Line, Rule: r.Name,
					Reason: fmt.Sprintf("duplicate rule name (also in %s:%d); only built-in rules can be replaced", rules[i].Source, rules[i].Line)})
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	if err := checkCount(rules); err != nil {
		return nil, err
	}
	return rules, nil
}

// checkCount refuses more than MaxRules enabled rules, naming the first
// one past the limit.
func checkCount(rules []*Rule) error {
	n := 0
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		if n++; n > MaxRules {
			return &Error{File: r.Source, Line: r.Line, Rule: r.Name,
				Reason: fmt.Sprintf("more than %d enabled rules in total: vigil evaluates at most %d rules in the kernel; disable some", MaxRules, MaxRules)}
		}
	}
	return nil
}
