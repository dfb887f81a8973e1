package process

import (
	"errors"
	"slices"
	"testing"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/bpftest"
	"github.com/vigil-dev/vigil/internal/event"
)

// execRecord builds a raw exec record as the kernel would.
func execRecord(pid uint32, args, filename, exe, cwd string, flags uint8) []byte {
	return execRecordEnv(pid, args, filename, exe, cwd, "", flags)
}

// header is a record header of process pid, at boot time 5 s.
func header(typ bpfrt.RecordType, pid uint32, flags uint8) bpfrt.Header {
	h := bpfrt.Header{Type: uint8(typ), Flags: flags, Pid: pid, Tid: pid, Ppid: 1, Uid: 1000, Gid: 1001, KtimeNs: 5_000_000_000, CgroupId: 42}
	for i, c := range "sh" {
		h.Comm[i] = int8(c)
	}
	return h
}

// withHeader writes h at the start of a raw record.
func withHeader(raw []byte, h bpfrt.Header) []byte {
	copy(raw, bpftest.Raw(&h))
	return raw
}

func execRecordEnv(pid uint32, args, filename, exe, cwd, env string, flags uint8) []byte {
	r := processExecRecord{
		StartNs: 4_000_000_000,
		ArgsLen: uint16(len(args)), FilenameLen: uint16(len(filename)),
		ExeLen: uint16(len(exe)), CwdLen: uint16(len(cwd)), EnvLen: uint16(len(env)),
	}
	return withHeader(bpftest.Raw(&r, args, filename, exe, cwd, env), header(bpfrt.RecordExec, pid, flags))
}

func TestDecodeServiceFromEnvironment(t *testing.T) {
	for _, c := range []struct {
		env   string
		flags uint8
		want  string
	}{
		{"PATH=/bin\x00OTEL_SERVICE_NAME=checkout\x00HOME=/", 0, "checkout"},
		{"PATH=/bin\x00HOME=/", 0, "dash"},                                           // complete, unset: the exe
		{"PATH=/bin\x00OTEL_SERVICE_NAME=", 0, "dash"},                               // empty means unset
		{"PATH=/bin", uint8(processExecFlagsEXEC_ENV_TRUNCATED), ""},                 // the table asks /proc
		{"OTEL_SERVICE_NAME=a\x00X", uint8(processExecFlagsEXEC_ENV_TRUNCATED), "a"}, // found in the part captured
	} {
		var r Record
		if err := Decode(execRecordEnv(7, "sh\x00", "/bin/sh", "/usr/bin/dash", "/", c.env, c.flags), bpfrt.Clock{}, &r); err != nil {
			t.Fatal(err)
		}
		if r.Event.Process.Service != c.want {
			t.Errorf("env %q flags %d: service %q, want %q", c.env, c.flags, r.Event.Process.Service, c.want)
		}
	}
}

func TestDecodeExec(t *testing.T) {
	raw := execRecord(7, "sh\x00-c\x00\x00exit 3\x00", "/bin/sh", "/usr/bin/dash", "/tmp", 0)
	var r Record
	if err := Decode(raw, bpfrt.Clock{}, &r); err != nil {
		t.Fatal(err)
	}
	p := r.Event.Process
	if r.Event.Kind != event.KindExec || p.PID != 7 || p.UID != 1000 || p.GID != 1001 || p.CgroupID != 42 || p.Comm != "sh" {
		t.Errorf("header fields: %+v", p)
	}
	// An empty argument in the middle is kept.
	if want := []string{"sh", "-c", "", "exit 3"}; !slices.Equal(p.Args, want) {
		t.Errorf("args %q, want %q", p.Args, want)
	}
	if p.Exe != "/usr/bin/dash" || p.Cwd != "/tmp" || r.Event.Exec.Filename != "/bin/sh" || r.StartNs != 4_000_000_000 {
		t.Errorf("exe %q cwd %q filename %q start %d", p.Exe, p.Cwd, r.Event.Exec.Filename, r.StartNs)
	}
	if r.Event.Time.UnixNano() != 5_000_000_000 {
		t.Errorf("time %v", r.Event.Time)
	}

	raw = execRecord(7, "", "/bin/true", "", "", uint8(processExecFlagsEXEC_ARGS_UNREADABLE))
	if err := Decode(raw, bpfrt.Clock{}, &r); err != nil {
		t.Fatal(err)
	}
	if r.Event.Process.Args == nil || len(r.Event.Process.Args) != 0 || !r.Event.Exec.ArgsTruncated || r.Event.Process.Exe != "/bin/true" {
		t.Errorf("unreadable argv: args %#v truncated %v exe %q", r.Event.Process.Args, r.Event.Exec.ArgsTruncated, r.Event.Process.Exe)
	}
}

func TestDecodeExitStatus(t *testing.T) {
	for _, c := range []struct {
		status     uint32
		code, sig  int
		coreDumped bool
	}{
		{0, 0, 0, false},
		{3 << 8, 3, 0, false},
		{255 << 8, 255, 0, false},
		{9, 0, 9, false},
		{11 | 0x80, 0, 11, true},
	} {
		rec := processExitRecord{ExitCode: c.status, StartNs: 1_000}
		h := header(bpfrt.RecordExit, 7, 0)
		h.KtimeNs = 3_000
		raw := withHeader(bpftest.Raw(&rec), h)
		var r Record
		if err := Decode(raw, bpfrt.Clock{}, &r); err != nil {
			t.Fatal(err)
		}
		x := r.Event.Exit
		if x.ExitCode != c.code || x.Signal != c.sig || x.CoreDumped != c.coreDumped || x.DurationNs != 2_000 {
			t.Errorf("status %#x: got %+v", c.status, *x)
		}
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	good := execRecord(7, "a\x00", "/a", "/a", "/", 0)
	lie := processExecRecord{ArgsLen: 60000}
	lying := withHeader(bpftest.Raw(&lie, "a\x00/a/a/"), header(bpfrt.RecordExec, 7, 0))
	unknown := slices.Clone(good)
	unknown[0] = 99
	for name, raw := range map[string][]byte{
		"empty":        nil,
		"short header": good[:20],
		"short exec":   good[:execSize-1],
		"short fork":   append([]byte{byte(bpfrt.RecordFork)}, make([]byte, forkSize-2)...),
		"lying length": lying,
		"unknown type": unknown,
	} {
		var r Record
		if err := Decode(raw, bpfrt.Clock{}, &r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(execRecord(7, "sh\x00-c\x00", "/bin/sh", "/usr/bin/dash", "/tmp", 0))
	fork := processForkRecord{ChildPid: 8}
	f.Add(withHeader(bpftest.Raw(&fork), header(bpfrt.RecordFork, 7, 0)))
	var exit processExitRecord
	f.Add(withHeader(bpftest.Raw(&exit), header(bpfrt.RecordExit, 7, 0)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r Record
		if err := Decode(raw, bpfrt.Clock{}, &r); err != nil {
			return
		}
		ev := &r.Event
		set := 0
		for _, p := range []bool{ev.Exec != nil, ev.Exit != nil, ev.Fork != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("decoded %s event with %d kind payloads", ev.Kind, set)
		}
		if ev.Kind == event.KindExec && ev.Process.Args == nil {
			t.Fatal("exec args nil")
		}
		if _, err := ev.MarshalJSON(); err != nil {
			t.Fatalf("decoded event does not marshal: %v", err)
		}
	})
}
