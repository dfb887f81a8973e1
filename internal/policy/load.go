package policy

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
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
// reading it all.
func ReadFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Reason: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	return data, nil
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
