package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// Every key of the configuration file, and every VIGIL_* variable, is in
// docs/configuration.md (the contract says it lists every key).
func TestEveryKeyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			// Nested sections, except types that are one documented value
			// (selection rules are a table of their own).
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
				walk(key+".", f.Type)
				continue
			}
			keys = append(keys, key)
		}
	}
	walk("", reflect.TypeFor[Config]())
	if len(keys) < 10 {
		t.Fatalf("found only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("key %s is not in docs/configuration.md", k)
		}
	}
	for _, v := range envVars {
		if !strings.Contains(string(doc), "`"+v.name+"`") {
			t.Errorf("variable %s (%s) is not in docs/configuration.md", v.name, v.key)
		}
	}
}
