package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"cel.dev/cel-go/cel"

	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/linuxabi"
)

// Limits of a rule set (docs/rules.md lists them).
const (
	// MaxRules is how many enabled rules the kernel evaluates: one bit
	// each of a 64-bit mask.
	MaxRules = 64
	// maxSelectorPatterns bounds one selector, after list expansion.
	maxSelectorPatterns = 1024
	// maxItemLen bounds any pattern or list item (PATH_MAX).
	maxItemLen  = 4096
	maxIdentLen = 64 // rule and list names
)

// compiledRule is what a valid rule turns into besides its kernel table
// entries: its parameter check and the matchers of its userspace half.
type compiledRule struct {
	param                        Param
	exe, parentExe, path, target *strMatcher
	args                         *argsMatcher
	fstype                       []string
	cond                         cel.Program
	destPos, destNeg             []netip.Prefix
	ports, notPorts              []uint16
	// userspace is true when the kernel's verdict must be confirmed.
	userspace bool
	// condErrors counts the condition's failed evaluations; the first is
	// handed to Program.OnConditionError.
	condErrors atomic.Uint64
}

// failFunc reports one problem with a rule: fieldName is where (may be
// empty), the rest the reason.
type failFunc func(fieldName, format string, args ...any)

// checkRule validates r and compiles it. It reports every problem through
// fail and returns nil if there was any.
func checkRule(r *Rule, env *cel.Env, fail failFunc) *compiledRule {
	failed := false
	bad := func(fieldName, format string, args ...any) {
		failed = true
		fail(fieldName, format, args...)
	}
	if err := checkName(r.Name); err != nil {
		bad("name", "%v", err)
	}
	if strings.TrimSpace(r.Description) == "" {
		bad("description", "required")
	}
	if !slices.Contains(severities(), r.Severity) {
		bad("severity", "%q: want one of %s", r.Severity, strings.Join(severities(), ", "))
	}
	for _, t := range r.Tags {
		if strings.TrimSpace(t) == "" || len(t) > maxItemLen {
			bad(quoteField("tags", t), "tags must be non-empty words")
		}
	}
	if len(r.Events) == 0 {
		bad("events", "at least one event kind is required")
	}
	for _, k := range r.Events {
		if !isRuleKind(k) {
			bad(quoteField("events", string(k)), "not a rule event kind; want one of %s", kindList())
		}
	}
	switch r.Action {
	case event.ActionAlert, event.ActionKill, event.ActionDeny:
	default:
		bad("action", "%q: want alert, kill or deny", r.Action)
	}
	m := &r.Match
	for _, f := range m.set() {
		for _, k := range r.Events {
			if isRuleKind(k) && !f.accepts(k) {
				bad("match."+f.String(), "%s", f.notAField(k))
				break
			}
		}
	}
	c := &compiledRule{}
	checkStr(bad, "match.exe", m.Exe, false)
	checkStr(bad, "match.parent_exe", m.ParentExe, false)
	checkStr(bad, "match.path", m.Path, false)
	checkStr(bad, "match.name", m.Name, true)
	checkStr(bad, "match.target", m.Target, false)
	checkArgs(bad, m.Args)
	checkParams(bad, m)
	checkDest(bad, m.Destination, c)
	if m.FSType != nil {
		checkNonEmpty(bad, "match.fstype", m.FSType)
	}
	c.userspace = m.Exe.userspace() || m.ParentExe.userspace() || m.Path.userspace() ||
		m.Target.userspace() || m.Args != nil || m.FSType != nil || r.Condition != ""
	if r.Action == event.ActionKill || r.Action == event.ActionDeny {
		checkKernelOnly(bad, r)
		if why := broadReason(m); why != "" && !r.AllowBroadEnforcement {
			bad("action", "%s is too broad: it would act on the %s events of every process (%s); "+
				"say which processes (exe, parent_exe) or objects (path, name, target, destination) it is for, "+
				"or set allow_broad_enforcement: true on the rule to enforce it anyway", r.Action, kindNames(r.Events), why)
		}
	}
	if r.Action == event.ActionDeny && (len(r.Events) != 1 || r.Events[0] != event.KindConnect) {
		bad("action", "deny is only for events: [connect] (the cgroup connect hooks refuse with EPERM)")
	}
	if r.Condition != "" {
		c.cond = checkCondition(bad, r, env)
	}
	if failed {
		return nil
	}
	p, err := buildParam(m)
	if err != nil {
		bad("match", "%v", err)
		return nil
	}
	c.param = p
	c.exe = compileStrSelector(m.Exe)
	c.parentExe = compileStrSelector(m.ParentExe)
	c.path = compileStrSelector(m.Path)
	c.target = compileStrSelector(m.Target)
	c.args = compileArgsSelector(m.Args)
	c.fstype = m.FSType
	return c
}

func severities() []string {
	return []string{event.SeverityInfo, event.SeverityLow, event.SeverityMedium, event.SeverityHigh, event.SeverityCritical}
}

// kindNames is "exec", "open and unlink", "open, unlink and rename".
func kindNames(ks []event.Kind) string {
	var s []string
	for _, k := range ks {
		s = append(s, string(k))
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func kindList() string {
	var s []string
	for _, k := range ruleKinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// checkName validates a rule name: [a-z0-9][a-z0-9._-]*, at most 64 bytes.
func checkName(n string) error {
	if n == "" {
		return fmt.Errorf("required")
	}
	if len(n) > maxIdentLen {
		return fmt.Errorf("%q: longer than %d characters", n, maxIdentLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		lower := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !lower && (i == 0 || c != '.' && c != '_' && c != '-') {
			return fmt.Errorf("%q: want lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", n)
		}
	}
	return nil
}

// checkListName validates a list name: [A-Za-z0-9_]+ (it must be one CEL
// token after '@' in conditions), at most 64 bytes.
func checkListName(n string) error {
	if n == "" || len(n) > maxIdentLen {
		return fmt.Errorf("list names have 1 to %d characters", maxIdentLen)
	}
	for i := 0; i < len(n); i++ {
		if !isListNameByte(n[i]) {
			return fmt.Errorf("list name %q: want letters, digits and '_'", n)
		}
	}
	return nil
}

// checkItem validates one string item.
func checkItem(s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty pattern")
	case len(s) > max:
		return fmt.Errorf("%d bytes; at most %d", len(s), max)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("contains a NUL byte")
	case !utf8.ValidString(s):
		return fmt.Errorf("not valid UTF-8")
	}
	return nil
}

func checkStr(bad failFunc, name string, s *StringSelector, isName bool) {
	if s == nil {
		return
	}
	if !checkSize(bad, name, s.size()) {
		return
	}
	if isName {
		if len(s.Prefix)+len(s.Glob)+len(s.NotPrefix)+len(s.NotGlob) > 0 {
			bad(name, "takes only exact and not_in: base names are matched whole (use path for prefixes and globs)")
		}
		for _, l := range []struct {
			key  string
			list []string
		}{{".exact", s.Exact}, {".not_in", s.NotIn}} {
			for _, v := range l.list {
				err := checkItem(v, maxNameLen)
				if err == nil && strings.Contains(v, "/") {
					err = fmt.Errorf("a base name has no '/'")
				}
				if err != nil {
					bad(quoteField(name+l.key, v), "%v", err)
				}
			}
		}
		return
	}
	for _, v := range s.Exact {
		if err := checkItem(v, maxExactLen); err != nil {
			bad(quoteField(name+".exact", v), "%v (the kernel's keys hold 255 bytes with the terminator)", err)
		}
	}
	for _, v := range s.NotIn {
		if err := checkItem(v, maxExactLen); err != nil {
			bad(quoteField(name+".not_in", v), "%v (the kernel's keys hold 255 bytes with the terminator)", err)
		}
	}
	for _, v := range s.Prefix {
		if err := checkItem(v, maxPrefixLen); err != nil {
			bad(quoteField(name+".prefix", v), "%v (the kernel's keys hold 255 bytes)", err)
		}
	}
	for _, v := range s.NotPrefix {
		if err := checkItem(v, maxPrefixLen); err != nil {
			bad(quoteField(name+".not_prefix", v), "%v (the kernel's keys hold 255 bytes)", err)
		}
	}
	for _, v := range s.Glob {
		if err := checkGlob(v); err != nil {
			bad(quoteField(name+".glob", v), "%v", err)
		} else if lp := literalPrefix(v); lp == "" || lp == "/" {
			bad(quoteField(name+".glob", v), "too broad to filter in the kernel; use name: or a longer literal prefix")
		}
	}
	for _, v := range s.NotGlob {
		if err := checkGlob(v); err != nil {
			bad(quoteField(name+".not_glob", v), "%v", err)
		}
	}
}

// checkSize refuses a selector without patterns or with too many.
func checkSize(bad failFunc, name string, n int) bool {
	switch {
	case n == 0:
		bad(name, "no patterns")
		return false
	case n > maxSelectorPatterns:
		bad(name, "%d patterns; at most %d", n, maxSelectorPatterns)
		return false
	}
	return true
}

func checkGlob(v string) error {
	if err := checkItem(v, maxItemLen); err != nil {
		return err
	}
	_, err := compileGlob(v)
	return err
}

func checkNonEmpty(bad failFunc, name string, l []string) {
	if len(l) == 0 {
		bad(name, "empty list")
	}
	for _, v := range l {
		if err := checkItem(v, maxItemLen); err != nil {
			bad(quoteField(name, v), "%v", err)
		}
	}
}

func checkArgs(bad failFunc, a *ArgsSelector) {
	if a == nil {
		return
	}
	if !checkSize(bad, "match.args", a.size()) {
		return
	}
	for _, l := range []struct {
		name string
		l    []string
	}{{"match.args.any", a.Any}, {"match.args.prefix", a.Prefix}, {"match.args.contains", a.Contains}} {
		for _, v := range l.l {
			if err := checkItem(v, maxItemLen); err != nil {
				bad(quoteField(l.name, v), "%v", err)
			}
		}
	}
	for _, v := range a.Glob {
		if err := checkGlob(v); err != nil {
			bad(quoteField("match.args.glob", v), "%v", err)
		}
	}
}

// paramSel is one parameter selector: its field, values and name table.
type paramSel struct {
	name   string
	values []string
	check  func(string) error
}

func checkParams(bad failFunc, m *Match) {
	table := func(t linuxabi.Table, prefix, what string) func(string) error {
		return func(s string) error {
			if _, ok := lookupName(t, prefix, s); !ok {
				return fmt.Errorf("unknown %s; known: %s", what, strings.Join(t.Names(), ", "))
			}
			return nil
		}
	}
	sels := []paramSel{
		{"match.flags", m.Flags, func(s string) error {
			if strings.EqualFold(s, "O_RDONLY") || strings.EqualFold(s, "RDONLY") {
				return fmt.Errorf("O_RDONLY is 0, not a flag bit; use access: [read]")
			}
			return table(linuxabi.OpenFlags, "O_", "open flag")(s)
		}},
		{"match.access", m.Access, func(s string) error {
			if s != "read" && s != "write" {
				return fmt.Errorf("want read or write")
			}
			return nil
		}},
		{"match.mode", m.Mode, func(s string) error {
			if _, err := modeBits(s); err != nil {
				return fmt.Errorf("%v; known names: %s", err, strings.Join(linuxabi.ModeBits.Names(), ", "))
			}
			return nil
		}},
		{"match.family", m.Family, table(linuxabi.AddressFamilies, "AF_", "address family")},
		{"match.type", m.Type, table(linuxabi.SocketTypes, "SOCK_", "socket type")},
		{"match.request", m.Request, table(linuxabi.PtraceRequests, "PTRACE_", "ptrace request")},
		{"match.cmd", m.Cmd, table(linuxabi.BPFCommands, "BPF_", "bpf command")},
	}
	for _, s := range sels {
		if s.values == nil {
			continue
		}
		if len(s.values) == 0 {
			bad(s.name, "empty list")
		}
		for _, v := range s.values {
			if err := s.check(v); err != nil {
				bad(quoteField(s.name, v), "%v", err)
			}
		}
	}
}

func checkDest(bad failFunc, d *Destination, c *compiledRule) {
	if d == nil {
		return
	}
	if !checkSize(bad, "match.destination", d.size()) {
		return
	}
	for _, l := range []struct {
		name string
		in   []string
		out  *[]netip.Prefix
	}{{"match.destination.cidr", d.CIDR, &c.destPos}, {"match.destination.not_cidr", d.NotCIDR, &c.destNeg}} {
		for _, v := range l.in {
			p, err := parseCIDR(v)
			if err != nil {
				bad(quoteField(l.name, v), "%v", err)
				continue
			}
			*l.out = append(*l.out, p)
		}
	}
	for _, l := range []struct {
		name string
		in   []string
		out  *[]uint16
	}{{"match.destination.ports", d.Ports, &c.ports}, {"match.destination.not_ports", d.NotPorts, &c.notPorts}} {
		for _, v := range l.in {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil || n == 0 {
				bad(quoteField(l.name, v), "not a port number 1-65535")
				continue
			}
			*l.out = append(*l.out, uint16(n))
		}
	}
}

// parseCIDR reads an IPv4 or IPv6 CIDR, or a bare address (a host).
func parseCIDR(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("not a CIDR")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("not an IP address or CIDR")
		}
		if a.Zone() != "" {
			return p, fmt.Errorf("zones are not supported")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return p, fmt.Errorf("an IPv4-mapped IPv6 prefix: write it as IPv4 (mapped destinations are matched as IPv4)")
	}
	return p.Masked(), nil
}

// checkKernelOnly refuses what a kill or deny rule cannot have: the action
// happens in the kernel, which has only the kernel's half of the rule.
func checkKernelOnly(bad failFunc, r *Rule) {
	why := fmt.Sprintf("is checked in userspace, and action %s happens in the kernel", r.Action)
	m := &r.Match
	for _, s := range []struct {
		name string
		sel  *StringSelector
	}{{"match.exe", m.Exe}, {"match.parent_exe", m.ParentExe}, {"match.path", m.Path}, {"match.target", m.Target}} {
		if s.sel == nil {
			continue
		}
		if len(s.sel.Glob) > 0 {
			bad(s.name+".glob", "%s; use exact or prefix patterns", why)
		}
		if len(s.sel.NotGlob) > 0 {
			bad(s.name+".not_glob", "%s; use not_in or not_prefix", why)
		}
	}
	if m.Args != nil {
		bad("match.args", "%s", why)
	}
	if m.FSType != nil {
		bad("match.fstype", "%s", why)
	}
	if r.Condition != "" {
		bad("condition", "%s", why)
	}
}

func checkCondition(bad failFunc, r *Rule, env *cel.Env) cel.Program {
	if len(r.Condition) > maxConditionLen {
		bad("condition", "%d bytes; at most %d", len(r.Condition), maxConditionLen)
		return nil
	}
	expr := r.condition
	if r.condFrom != r.Condition {
		var err error
		if expr, err = expandConditionLists(r.Condition, nil); err != nil {
			bad("condition", "%v", err)
			return nil
		}
	}
	if env == nil {
		bad("condition", "no CEL environment")
		return nil
	}
	prg, err := compileCondition(env, expr)
	if err != nil {
		bad("condition", "%v", err)
		return nil
	}
	return prg
}
