package selector

import (
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/event"
)

func TestProcessMarks(t *testing.T) {
	s, err := New(
		Rules{Executables: []string{"nginx", "/usr/bin/python3*"}, PIDs: []uint32{42}, Cgroups: []string{"/kubepods.slice/*"}, Containers: []string{"ABCD1234"}},
		Rules{Executables: []string{"/usr/sbin/ssh*"}, PIDs: []uint32{7}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if !s.SelectOnly() || !s.NeedsCgroupPath() {
		t.Error("SelectOnly/NeedsCgroupPath")
	}
	for _, c := range []struct {
		p    event.Process
		cg   string
		want Bits
	}{
		{event.Process{PID: 1, Exe: "/usr/sbin/nginx"}, "", Select},
		{event.Process{PID: 1, Exe: "/usr/bin/python3.11"}, "", Select},
		{event.Process{PID: 1, Exe: "/opt/python3.11"}, "", 0},
		{event.Process{PID: 42, Exe: "/bin/x"}, "", Select},
		{event.Process{PID: 7, Exe: "/usr/sbin/nginx"}, "", Select | Exclude},
		{event.Process{PID: 3, Exe: "/usr/sbin/sshd"}, "", Exclude},
		{event.Process{PID: 3, Exe: "/bin/a"}, "/kubepods.slice/pod1", Select},
		{event.Process{PID: 3, Exe: "/bin/a"}, "/kubepods.slice/pod1/c", 0},
		{event.Process{PID: 3, Exe: "/bin/a", ContainerID: "abcd1234ef"}, "", Select},
		{event.Process{PID: 3}, "", 0},
	} {
		if got := s.Process(&c.p, c.cg); got != c.want {
			t.Errorf("%+v in %q: got %b, want %b", c.p, c.cg, got, c.want)
		}
	}
}

func TestPortsAndEmpty(t *testing.T) {
	s, err := New(Rules{}, Rules{Ports: []uint16{22, 80}})
	if err != nil {
		t.Fatal(err)
	}
	if s.SelectOnly() || s.NeedsCgroupPath() {
		t.Error("no select rules: everything is selected")
	}
	if p := s.Ports(); p[22] != Exclude || p[80] != Exclude || len(p) != 2 {
		t.Errorf("ports %v", p)
	}
}

func TestInvalidRulesNameTheRule(t *testing.T) {
	for _, c := range []struct {
		sel, excl Rules
		want      string
	}{
		{Rules{Executables: []string{"[bad"}}, Rules{}, "select.executables"},
		{Rules{}, Rules{Cgroups: []string{"kubepods/*"}}, "exclude.cgroups"},
		{Rules{Containers: []string{"xyz!"}}, Rules{}, "select.containers"},
		{Rules{Ports: []uint16{0}}, Rules{}, "select.ports"},
	} {
		if _, err := New(c.sel, c.excl); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error naming %s, got %v", c.want, err)
		}
	}
}
