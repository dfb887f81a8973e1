package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	"gopkg.in/yaml.v3"

	"github.com/vigil-dev/vigil/internal/event"
)

const (
	// MaxFileSize bounds a rule file.
	MaxFileSize = 1 << 20
	// maxListItems bounds a list after expansion: lists of lists must not
	// grow exponentially.
	maxListItems = 4096
	// maxFileRules bounds the rules of one file, enabled or not.
	maxFileRules = 1024
	// maxFileItems bounds the list items of all rules of a file after
	// expansion: a small file naming a long list in every selector of
	// every rule must not take gigabytes.
	maxFileItems = 1 << 18
)

// File is one parsed rule file.
type File struct {
	// Lists are the lists the file defines, expanded.
	Lists map[string][]string
	// Disable names rules loaded before this file to turn off.
	Disable []string
	Rules   []*Rule
}

// fileYAML is the document, decoded strictly.
type fileYAML struct {
	Lists   map[string][]string `yaml:"lists"`
	Disable []string            `yaml:"disable"`
	Rules   []ruleYAML          `yaml:"rules"`
}

type ruleYAML struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Severity    string   `yaml:"severity"`
	Tags        []string `yaml:"tags"`
	Events      []string `yaml:"events"`
	Enabled     *bool    `yaml:"enabled"`
	Match       Match    `yaml:"match"`
	Condition   string   `yaml:"condition"`
	Action      string   `yaml:"action"`

	AllowBroadEnforcement bool `yaml:"allow_broad_enforcement"`
}

// Parse reads one rule file. known are the lists defined by the files
// before it (and the built-in ones): the file may use them and may not
// redefine them. Every problem is reported, as *Error values joined
// (errors.Join); the File is nil then.
func Parse(file string, data []byte, known map[string][]string) (*File, error) {
	c := &errs{file: file}
	if len(data) > MaxFileSize {
		c.add(&Error{Reason: fmt.Sprintf("%d bytes; rule files have at most %d", len(data), MaxFileSize)})
		return nil, errors.Join(c.list...)
	}
	doc, lines, err := decode(data)
	if err != nil {
		c.add(&Error{Reason: err.Error(), Err: err})
		return nil, errors.Join(c.list...)
	}
	f := &File{Lists: resolveLists(c, doc.Lists, known)}
	lists := make(map[string][]string, len(known)+len(f.Lists))
	for n, l := range known {
		lists[n] = l
	}
	for n, l := range f.Lists {
		lists[n] = l
	}
	disable, err := expand(doc.Disable, lists, maxListItems)
	if err != nil {
		c.add(&Error{Field: "disable", Reason: err.Error()})
	}
	for _, n := range disable {
		if err := checkName(n); err != nil {
			c.add(&Error{Field: "disable", Reason: err.Error()})
		}
	}
	f.Disable = disable
	if len(doc.Rules) > maxFileRules {
		c.add(&Error{Reason: fmt.Sprintf("%d rules; a file has at most %d", len(doc.Rules), maxFileRules)})
		return nil, errors.Join(c.list...)
	}
	var env *cel.Env
	for _, ry := range doc.Rules {
		if ry.Condition != "" {
			if env, err = newCELEnv(newSchema()); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			break
		}
	}
	seen := map[string]int{}
	enabled := 0
	tables, overflowed := newBuilders(), false
	for i := range doc.Rules {
		if c.full() {
			break
		}
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		r := buildRule(c, &doc.Rules[i], file, line, lists)
		if r == nil {
			continue
		}
		if prev, dup := seen[r.Name]; dup && r.Name != "" {
			c.add(&Error{Line: line, Rule: r.Name, Reason: fmt.Sprintf("duplicate rule name (first at line %d)", prev)})
			continue
		}
		seen[r.Name] = line
		cr := checkRule(r, env, c.rule(r.Name, line))
		if cr == nil {
			continue
		}
		if r.Enabled {
			if enabled++; enabled == MaxRules+1 {
				c.add(&Error{Line: line, Rule: r.Name, Reason: fmt.Sprintf("more than %d enabled rules: vigil evaluates at most %d rules in the kernel", MaxRules, MaxRules)})
			} else if enabled > MaxRules {
				// Reported once, at the first rule past the limit.
			} else if dim := tables.add(r, cr, 1<<(enabled-1)); dim != "" && !overflowed {
				// The file alone overflows a kernel table: what it
				// accepts must compile.
				overflowed = true
				c.add(&Error{Line: line, Rule: r.Name, Reason: fmt.Sprintf("the kernel's %s table would have more than %d entries", dim, MaxEntries)})
			}
		}
		f.Rules = append(f.Rules, r)
	}
	if len(c.list) > 0 {
		return nil, errors.Join(c.list...)
	}
	return f, nil
}

// decode decodes data strictly (unknown keys are errors, as is a second
// document) and finds the line of each rule.
//
// Aliases are measured first: yaml.v3 refuses exponential alias bombs, but
// not a megabyte of aliases each repeating a long list, which this schema
// would let expand to billions of strings.
func decode(data []byte) (*fileYAML, []int, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, err
	}
	if n, err := expandedSize(&root, map[*yaml.Node]int{}); err != nil {
		return nil, nil, err
	} else if n > maxExpandedNodes {
		return nil, nil, fmt.Errorf("aliases expand the document to more than %d YAML nodes", maxExpandedNodes)
	}
	var doc fileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &doc, nil, nil // an empty file
		}
		return nil, nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("more than one YAML document (a rule file is one document)")
	}
	// The strict decode has no positions: the node tree has each rule's
	// line for the messages.
	if len(root.Content) == 0 {
		return &doc, nil, nil
	}
	top := deref(root.Content[0])
	var lines []int
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "rules" {
			for _, r := range deref(top.Content[i+1]).Content {
				lines = append(lines, deref(r).Line)
			}
		}
	}
	return &doc, lines, nil
}

// maxExpandedNodes bounds the nodes a document may have once its aliases
// are expanded: ten times what a full-size file can hold without them.
const maxExpandedNodes = 4 << 20

// expandedSize counts the nodes of n with aliases expanded, stopping once
// past maxExpandedNodes. memo holds the sizes counted so far (-1 while a
// node is being counted: an alias to it then is a cycle).
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) (int, error) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1, nil
		}
		return expandedSize(n.Alias, memo)
	}
	if s, ok := memo[n]; ok {
		if s < 0 {
			return 0, fmt.Errorf("line %d: an alias refers to the node that contains it", n.Line)
		}
		return s, nil
	}
	memo[n] = -1
	size := 1
	for _, c := range n.Content {
		s, err := expandedSize(c, memo)
		if err != nil {
			return 0, err
		}
		if size += s; size > maxExpandedNodes {
			break
		}
	}
	memo[n] = size
	return size, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// buildRule turns a decoded rule into a Rule, expanding its lists.
func buildRule(c *errs, ry *ruleYAML, file string, line int, lists map[string][]string) *Rule {
	name := ry.Name
	fail := c.rule(name, line)
	r := &Rule{
		Name: name, Description: ry.Description, Severity: ry.Severity,
		Match: ry.Match, Condition: ry.Condition, Action: ry.Action, AllowBroadEnforcement: ry.AllowBroadEnforcement,
		Source: file, Line: line, Enabled: ry.Enabled == nil || *ry.Enabled,
	}
	if r.Action == "" {
		r.Action = event.ActionAlert
	}
	ok := true
	exp := func(fieldName string, in []string) []string {
		if !ok {
			return nil
		}
		out, err := expand(in, lists, maxSelectorPatterns)
		if err == nil && c.items+len(out) > maxFileItems {
			err = fmt.Errorf("the file's lists expand to more than %d items in all", maxFileItems)
		}
		if err != nil {
			fail(fieldName, "%v", err)
			ok = false
		}
		c.items += len(out)
		return out
	}
	if r.Tags = exp("tags", ry.Tags); r.Tags == nil {
		r.Tags = []string{}
	}
	for _, k := range exp("events", ry.Events) {
		if !slices.Contains(r.Events, event.Kind(k)) {
			r.Events = append(r.Events, event.Kind(k))
		}
	}
	for _, l := range r.Match.lists() {
		if *l.list != nil {
			*l.list = exp(l.field, *l.list)
		}
	}
	if r.Condition != "" && len(r.Condition) <= maxConditionLen {
		expr, err := expandConditionLists(r.Condition, lists)
		if err != nil {
			fail("condition", "%v", err)
			ok = false
		}
		r.condition, r.condFrom = expr, r.Condition
	}
	if !ok {
		return nil
	}
	return r
}

// expand replaces "@name" items by the items of list name ("@@x" is the
// literal "@x"), failing past limit items.
func expand(in []string, lists map[string][]string, limit int) ([]string, error) {
	if in == nil {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		switch {
		case strings.HasPrefix(s, "@@"):
			out = append(out, s[1:])
		case strings.HasPrefix(s, "@"):
			l, ok := lists[s[1:]]
			if !ok {
				return nil, fmt.Errorf("unknown list %q", s)
			}
			out = append(out, l...)
		default:
			out = append(out, s)
		}
		if len(out) > limit {
			return nil, fmt.Errorf("more than %d items after list expansion", limit)
		}
	}
	return out, nil
}

// resolveLists expands the file's lists, which may use each other (in any
// order) and the known ones.
func resolveLists(c *errs, raw map[string][]string, known map[string][]string) map[string][]string {
	out := make(map[string][]string, len(raw))
	state := map[string]int{} // 1 resolving, 2 done
	var resolve func(name string) bool
	resolve = func(name string) bool {
		switch state[name] {
		case 1:
			c.add(&Error{Field: "lists." + name, Reason: "list refers to itself (through @ references)"})
			return false
		case 2:
			_, ok := out[name]
			return ok
		}
		state[name] = 1
		defer func() { state[name] = 2 }()
		var items []string
		for _, s := range raw[name] {
			switch {
			case strings.HasPrefix(s, "@@"):
				items = append(items, s[1:])
			case strings.HasPrefix(s, "@"):
				ref := s[1:]
				if _, mine := raw[ref]; mine {
					if !resolve(ref) {
						return false
					}
					items = append(items, out[ref]...)
				} else if l, ok := known[ref]; ok {
					items = append(items, l...)
				} else {
					c.add(&Error{Field: quoteField("lists."+name, s), Reason: "unknown list"})
					return false
				}
			default:
				if err := checkItem(s, maxItemLen); err != nil {
					c.add(&Error{Field: quoteField("lists."+name, s), Reason: err.Error()})
					return false
				}
				items = append(items, s)
			}
			if len(items) > maxListItems {
				c.add(&Error{Field: "lists." + name, Reason: fmt.Sprintf("more than %d items after expansion", maxListItems)})
				return false
			}
		}
		if c.items += len(items); c.items > maxFileItems {
			c.add(&Error{Field: "lists." + name, Reason: fmt.Sprintf("the file's lists expand to more than %d items in all", maxFileItems)})
			return false
		}
		if items == nil {
			items = []string{}
		}
		out[name] = items
		return true
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if c.items > maxFileItems {
			break
		}
		if err := checkListName(n); err != nil {
			c.add(&Error{Field: "lists", Reason: err.Error()})
			continue
		}
		if _, dup := known[n]; dup {
			c.add(&Error{Field: "lists." + n, Reason: "list defined twice (an earlier file or the built-in rules define it; pick another name)"})
			continue
		}
		resolve(n)
	}
	return out
}
