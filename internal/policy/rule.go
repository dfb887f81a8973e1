// Package policy is vigil's rule engine: it reads rule files (YAML, with
// optional CEL conditions), validates them, and compiles the enabled rules
// into the tables the kernel evaluates bit-parallel (one bit per rule), plus
// the userspace checks the kernel cannot do (globs, argv, fstype, CEL).
//
// The split is deliberate: the kernel over-approximates cheaply and exactly
// where it can (prefix tries, hash maps, flag bits), so that only events some
// rule may match reach userspace, where Evaluate confirms them. MatchEvent is
// the same evaluation done entirely in Go: the reference for the kernel's
// tests, and the fallback when the kernel could not decide. docs/rules.md is
// the user's description of the language.
package policy

import (
	"github.com/vigil-dev/vigil/internal/event"
)

// Rule is one rule, as written in a rule file after list expansion.
type Rule struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Severity    string       `json:"severity"`
	Tags        []string     `json:"tags"`
	Events      []event.Kind `json:"events"`
	Enabled     bool         `json:"enabled"`
	Match       Match        `json:"match"`
	Condition   string       `json:"condition,omitempty"`
	Action      string       `json:"action"`
	// AllowBroadEnforcement lets a kill or deny rule whose match does not
	// narrow (broad.go) load: the user says they mean every process.
	AllowBroadEnforcement bool `json:"allow_broad_enforcement,omitempty"`
	// Source is the file the rule was read from (Builtin for the
	// built-in rules), and Line its line there.
	Source string `json:"source"`
	Line   int    `json:"line,omitempty"`

	// condition is Condition with its @list references expanded, and
	// condFrom the Condition it was expanded from: a caller who edits
	// Condition afterwards gets it compiled as written.
	condition, condFrom string
}

// Builtin is the Source of the built-in rules.
const Builtin = "builtin"

// Match holds a rule's selectors. Every selector given must match (AND);
// within one selector any positive pattern may match (OR), and no negative
// pattern may. Which events take which selector is in fields.go.
type Match struct {
	Exe       *StringSelector `yaml:"exe" json:"exe,omitempty"`
	ParentExe *StringSelector `yaml:"parent_exe" json:"parent_exe,omitempty"`
	Path      *StringSelector `yaml:"path" json:"path,omitempty"`
	Name      *StringSelector `yaml:"name" json:"name,omitempty"`
	Target    *StringSelector `yaml:"target" json:"target,omitempty"`
	Args      *ArgsSelector   `yaml:"args" json:"args,omitempty"`
	// Flags are O_* names: any of them set.
	Flags []string `yaml:"flags" json:"flags,omitempty"`
	// Access is read and/or write.
	Access []string `yaml:"access" json:"access,omitempty"`
	// Mode is S_* names or octal strings: any of the bits set.
	Mode []string `yaml:"mode" json:"mode,omitempty"`
	// FSType are exact file system type names.
	FSType      []string     `yaml:"fstype" json:"fstype,omitempty"`
	Destination *Destination `yaml:"destination" json:"destination,omitempty"`
	Family      []string     `yaml:"family" json:"family,omitempty"`
	Type        []string     `yaml:"type" json:"type,omitempty"`
	Request     []string     `yaml:"request" json:"request,omitempty"`
	Cmd         []string     `yaml:"cmd" json:"cmd,omitempty"`
}

// StringSelector matches one string: it matches when it has no positive
// pattern or any positive pattern matches, and no negative pattern matches.
type StringSelector struct {
	Exact     []string `yaml:"exact" json:"exact,omitempty"`
	Prefix    []string `yaml:"prefix" json:"prefix,omitempty"`
	Glob      []string `yaml:"glob" json:"glob,omitempty"`
	NotIn     []string `yaml:"not_in" json:"not_in,omitempty"`
	NotPrefix []string `yaml:"not_prefix" json:"not_prefix,omitempty"`
	NotGlob   []string `yaml:"not_glob" json:"not_glob,omitempty"`
}

func (s *StringSelector) positive() bool {
	return len(s.Exact)+len(s.Prefix)+len(s.Glob) > 0
}

func (s *StringSelector) size() int {
	return len(s.Exact) + len(s.Prefix) + len(s.Glob) + len(s.NotIn) + len(s.NotPrefix) + len(s.NotGlob)
}

// userspace reports whether the kernel cannot decide the selector alone.
func (s *StringSelector) userspace() bool {
	return s != nil && len(s.Glob)+len(s.NotGlob) > 0
}

// ArgsSelector matches when some argv element after argv[0] matches any of
// its items.
type ArgsSelector struct {
	Any      []string `yaml:"any" json:"any,omitempty"`
	Prefix   []string `yaml:"prefix" json:"prefix,omitempty"`
	Glob     []string `yaml:"glob" json:"glob,omitempty"`
	Contains []string `yaml:"contains" json:"contains,omitempty"`
}

func (a *ArgsSelector) size() int {
	return len(a.Any) + len(a.Prefix) + len(a.Glob) + len(a.Contains)
}

// Destination matches a connect's IP destination. Ports are strings so that
// "@list" references work in them as in every other list.
type Destination struct {
	CIDR     []string `yaml:"cidr" json:"cidr,omitempty"`
	NotCIDR  []string `yaml:"not_cidr" json:"not_cidr,omitempty"`
	Ports    []string `yaml:"ports" json:"ports,omitempty"`
	NotPorts []string `yaml:"not_ports" json:"not_ports,omitempty"`
}

func (d *Destination) size() int {
	return len(d.CIDR) + len(d.NotCIDR) + len(d.Ports) + len(d.NotPorts)
}
