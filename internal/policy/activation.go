package policy

import (
	"reflect"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/vigil-dev/vigil/internal/event"
)

// activation resolves a condition's variables from one event, lazily: a
// condition pays only for the fields it reads, and nothing is marshalled.
// Values follow the event JSON (same names, nested objects as maps), with
// these differences: every integer is a CEL int, time is a timestamp,
// fields JSON omits when empty are present with their zero value, nil
// pointers and fields of other kinds are null, and process.ancestors is the
// event's ancestors.
type activation struct {
	ev        *event.Event
	s         *schema
	process   map[string]any
	ancestors []any
}

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) ResolveName(name string) (any, bool) {
	ev := a.ev
	switch name {
	case "time":
		return ev.Time, true
	case "kind":
		return string(ev.Kind), true
	case "process":
		if a.process == nil {
			a.process = a.s.structValue(reflect.ValueOf(&ev.Process).Elem(), 1)
			a.process["ancestors"] = a.ancestorList()
		}
		return a.process, true
	case "ancestors":
		return a.ancestorList(), true
	}
	if p := payload(ev); p.IsValid() {
		if f, ok := a.s.field(p.Type(), name); ok {
			return a.s.value(p.Field(f)), true
		}
	}
	// A declared variable of another kind (the checker has already
	// refused undeclared names).
	return types.NullValue, true
}

func (a *activation) ancestorList() []any {
	if a.ancestors == nil {
		a.ancestors = make([]any, len(a.ev.Ancestors))
		for i := range a.ev.Ancestors {
			a.ancestors[i] = a.s.structValue(reflect.ValueOf(&a.ev.Ancestors[i]).Elem(), 0)
		}
	}
	return a.ancestors
}

// payload is ev's kind-specific struct (invalid when it has none).
func payload(ev *event.Event) reflect.Value {
	v := reflect.ValueOf(ev).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.Struct {
			return f.Elem()
		}
	}
	return reflect.Value{}
}

// schema is the event types' JSON field names, read once per Program.
type schema struct {
	fields map[reflect.Type][]schemaField
	vars   []string // every top-level variable
}

type schemaField struct {
	name  string
	index int
}

// newSchema reads the JSON fields of every struct type an event holds.
// After it, a schema is only read, so Evaluate may run concurrently.
func newSchema() *schema {
	s := &schema{fields: map[reflect.Type][]schemaField{}}
	ev := reflect.TypeFor[event.Event]()
	for i := range ev.NumField() {
		s.register(ev.Field(i).Type)
	}
	names := map[string]bool{"time": true, "kind": true, "process": true, "ancestors": true}
	for _, t := range kindTypes() {
		for _, f := range s.fields[t] {
			names[f.name] = true
		}
	}
	for n := range names {
		s.vars = append(s.vars, n)
	}
	return s
}

// register records the JSON fields of t (through pointers and slices) and
// of the struct types below it.
func (s *schema) register(t reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() || t == reflect.TypeFor[event.Event]() {
		return
	}
	if _, done := s.fields[t]; done {
		return
	}
	var fs []schemaField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs = append(fs, schemaField{name, i})
	}
	s.fields[t] = fs
	for _, f := range fs {
		s.register(t.Field(f.index).Type)
	}
}

// varType is the Go type of top-level variable name: the process, the
// ancestors, or a kind's field (nil when kinds disagree on it, or it is
// none of these).
func (s *schema) varType(name string) reflect.Type {
	switch name {
	case "process":
		return reflect.TypeFor[event.Process]()
	case "ancestors":
		return reflect.TypeFor[[]event.Ancestor]()
	}
	var found reflect.Type
	for _, t := range kindTypes() {
		if i, ok := s.field(t, name); ok {
			ft := t.Field(i).Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if found != nil && found != ft {
				return nil
			}
			found = ft
		}
	}
	return found
}

// typeName names t in an error about a condition: as the event JSON does.
func (s *schema) typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[event.Process]():
		return "process"
	case reflect.TypeFor[event.Ancestor]():
		return "an ancestor"
	case reflect.TypeFor[event.Endpoint]():
		return "an endpoint"
	}
	return "it"
}

// fieldList is t's fields, for an error.
func (s *schema) fieldList(t reflect.Type) string {
	names := make([]string, 0, len(s.fields[t]))
	for _, f := range s.fields[t] {
		names = append(names, f.name)
	}
	return strings.Join(names, ", ")
}

func (s *schema) field(t reflect.Type, name string) (int, bool) {
	for _, f := range s.fields[t] {
		if f.name == name {
			return f.index, true
		}
	}
	return 0, false
}

// value converts a field of an event to what CEL's default adapter takes.
func (s *schema) value(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return types.NullValue
		}
		if ev, ok := v.Interface().(*event.Event); ok {
			return s.eventValue(ev)
		}
		return s.value(v.Elem())
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			return t
		}
		return s.structValue(v, 0)
	case reflect.Slice:
		switch x := v.Interface().(type) {
		case []string:
			if x == nil {
				return []string{}
			}
			return x
		case []int64:
			if x == nil {
				return []int64{}
			}
			return x
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = s.value(v.Index(i))
		}
		return out
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(v.Uint())
	case reflect.Bool:
		return v.Bool()
	case reflect.String:
		return v.String()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return types.NullValue
}

func (s *schema) structValue(v reflect.Value, extra int) map[string]any {
	fs := s.fields[v.Type()]
	out := make(map[string]any, len(fs)+extra)
	for _, f := range fs {
		out[f.name] = s.value(v.Field(f.index))
	}
	return out
}

// eventValue is a whole event (an alert's triggering event) as a map.
func (s *schema) eventValue(ev *event.Event) map[string]any {
	a := &activation{ev: ev, s: s}
	out := map[string]any{}
	for _, name := range s.vars {
		if v, _ := a.ResolveName(name); v != types.NullValue {
			out[name] = v
		}
	}
	return out
}
