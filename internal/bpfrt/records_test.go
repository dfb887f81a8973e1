package bpfrt

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// Every value of enum record_type has its Go constant and name, and no Go
// constant names a value C does not have.
func TestRecordTypesMatchC(t *testing.T) {
	spec, err := loadDispatch()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("record_type", &enum); err != nil {
		t.Fatal(err)
	}
	inC := map[RecordType]bool{}
	for _, v := range enum.Values {
		rt := RecordType(v.Value)
		want := strings.ToLower(strings.TrimPrefix(v.Name, "RECORD_"))
		if got := rt.String(); got != want {
			t.Errorf("%s = %d: Go names it %q, want %q (add it to records.go)", v.Name, v.Value, got, want)
		}
		inC[rt] = true
	}
	for rt, name := range recordNames {
		if !inC[rt] {
			t.Errorf("Go record type %q (%d) is not in enum record_type", name, rt)
		}
	}
}
