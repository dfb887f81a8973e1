package policy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/ext"

	"github.com/vigil-dev/vigil/internal/event"
)

const (
	// maxConditionLen bounds a condition's source.
	maxConditionLen = 4096
	// conditionCostLimit bounds one evaluation (CEL's cost units: about
	// one per operation, string operations by length): a condition runs
	// for every event the kernel matched, so a runaway one must fail
	// rather than stall the pipeline. It is about a millisecond.
	conditionCostLimit = 100_000
)

// kindTypes are the kind-specific payload types of event.Event.
func kindTypes() []reflect.Type {
	var out []reflect.Type
	t := reflect.TypeFor[event.Event]()
	for i := range t.NumField() {
		f := t.Field(i).Type
		if f.Kind() == reflect.Pointer && f.Elem().Kind() == reflect.Struct {
			out = append(out, f.Elem())
		}
	}
	return out
}

// newCELEnv is the environment conditions compile in: one dyn variable
// per top-level field of the event JSON of every kind (read from the event
// types' JSON tags, so that they cannot drift from the contract; an absent
// field is null), plus the string extension library.
func newCELEnv(s *schema) (*cel.Env, error) {
	opts := []cel.EnvOption{ext.Strings(), cel.CrossTypeNumericComparisons(true)}
	for _, v := range s.vars {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	return env, nil
}

// compileCondition type-checks expr (already list-expanded) and plans it
// with the cost limit.
func compileCondition(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("must be a bool expression, not %s", ast.OutputType())
	}
	// The variables are dyn, so CEL itself accepts any field: a misspelled
	// one would never match and never say so. The event types know their
	// fields.
	if err := checkFields(ast.NativeRep().Expr(), newSchema(), nil); err != nil {
		return nil, err
	}
	prg, err := env.Program(ast, cel.CostLimit(conditionCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return prg, nil
}

// checkFields checks that every field e selects from the event exists:
// process.pid, ancestors[0].exe, ancestors.exists(a, a.comm == "sh"),
// peer.port. scope holds the comprehension variables bound to list
// elements. Fields of what it cannot type (a map literal, a function's
// result) are left to CEL.
func checkFields(e celast.Expr, s *schema, scope map[string]reflect.Type) error {
	_, err := fieldType(e, s, scope)
	return err
}

// fieldType returns the Go type of what e denotes in the event (nil when
// it is not a part of the event, or not known), checking the fields it
// selects on the way.
func fieldType(e celast.Expr, s *schema, scope map[string]reflect.Type) (reflect.Type, error) {
	switch e.Kind() {
	case celast.IdentKind:
		name := e.AsIdent()
		if t, ok := scope[name]; ok {
			return t, nil
		}
		return s.varType(name), nil
	case celast.SelectKind:
		sel := e.AsSelect()
		t, err := fieldType(sel.Operand(), s, scope)
		if err != nil || t == nil {
			return nil, err
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, nil
		}
		if t == reflect.TypeFor[event.Process]() && sel.FieldName() == "ancestors" {
			return reflect.TypeFor[[]event.Ancestor](), nil // the activation adds it
		}
		i, ok := s.field(t, sel.FieldName())
		if !ok {
			fields := s.fieldList(t)
			if t == reflect.TypeFor[event.Process]() {
				fields += ", ancestors"
			}
			return nil, fmt.Errorf("unknown field %q: %s has %s", sel.FieldName(), s.typeName(t), fields)
		}
		return t.Field(i).Type, nil
	case celast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			if err := checkFields(c.Target(), s, scope); err != nil {
				return nil, err
			}
		}
		var first reflect.Type
		for i, a := range c.Args() {
			t, err := fieldType(a, s, scope)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				first = t
			}
		}
		if c.FunctionName() == "_[_]" && first != nil && first.Kind() == reflect.Slice {
			return first.Elem(), nil
		}
		return nil, nil
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		rt, err := fieldType(c.IterRange(), s, scope)
		if err != nil {
			return nil, err
		}
		inner := make(map[string]reflect.Type, len(scope)+1)
		for k, v := range scope {
			inner[k] = v
		}
		delete(inner, c.AccuVar())
		inner[c.IterVar()] = nil
		if rt != nil && rt.Kind() == reflect.Slice {
			inner[c.IterVar()] = rt.Elem()
		}
		for _, x := range []celast.Expr{c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()} {
			if err := checkFields(x, s, inner); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case celast.ListKind:
		for _, x := range e.AsList().Elements() {
			if err := checkFields(x, s, scope); err != nil {
				return nil, err
			}
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			m := en.AsMapEntry()
			if err := checkFields(m.Key(), s, scope); err != nil {
				return nil, err
			}
			if err := checkFields(m.Value(), s, scope); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// expandConditionLists replaces every @name outside string literals and
// comments by the CEL list literal of list name, so that conditions share
// the rule file's lists: `a.exe in @shell_binaries`.
func expandConditionLists(expr string, lists map[string][]string) (string, error) {
	if !strings.Contains(expr, "@") {
		return expr, nil
	}
	var b strings.Builder
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '/' && strings.HasPrefix(expr[i:], "//"):
			j := strings.IndexByte(expr[i:], '\n')
			if j < 0 {
				j = len(expr) - i
			}
			b.WriteString(expr[i : i+j])
			i += j
		case c == '"' || c == '\'':
			j := stringLiteralEnd(expr, i)
			b.WriteString(expr[i:j])
			i = j
		case c == '@':
			j := i + 1
			for j < len(expr) && isListNameByte(expr[j]) {
				j++
			}
			name := expr[i+1 : j]
			items, ok := lists[name]
			if !ok {
				if name == "" {
					return "", fmt.Errorf("'@' without a list name at offset %d", i)
				}
				return "", fmt.Errorf("unknown list %q", "@"+name)
			}
			b.WriteByte('[')
			for k, it := range items {
				if k > 0 {
					b.WriteString(", ")
				}
				b.WriteString(strconv.Quote(it))
			}
			b.WriteByte(']')
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// stringLiteralEnd returns the offset just past the CEL string literal
// starting at expr[i] (a quote): single or triple quoted, raw when an r
// or R precedes the quote (then a backslash escapes nothing). An
// unterminated literal runs to the end; the parser reports it.
func stringLiteralEnd(expr string, i int) int {
	raw := i > 0 && (expr[i-1] == 'r' || expr[i-1] == 'R')
	q := expr[i : i+1]
	if strings.HasPrefix(expr[i:], q+q+q) {
		q = q + q + q
	}
	j := i + len(q)
	for j < len(expr) {
		if !raw && expr[j] == '\\' {
			j += 2
			continue
		}
		if strings.HasPrefix(expr[j:], q) {
			return j + len(q)
		}
		j++
	}
	return len(expr)
}

func isListNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
