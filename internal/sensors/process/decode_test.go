package process

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
)

// The decoder reads fields at fixed offsets; they must be the offsets of
// the bpf2go-generated types, i.e. of the C structs.
func TestDecoderOffsetsMatchC(t *testing.T) {
	var h processRecordHeader
	var e processExecRecord
	var f processForkRecord
	var x processExitRecord
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"hdr.flags", unsafe.Offsetof(h.Flags), 1},
		{"hdr.pid", unsafe.Offsetof(h.Pid), 4},
		{"hdr.tid", unsafe.Offsetof(h.Tid), 8},
		{"hdr.ppid", unsafe.Offsetof(h.Ppid), 12},
		{"hdr.uid", unsafe.Offsetof(h.Uid), 16},
		{"hdr.gid", unsafe.Offsetof(h.Gid), 20},
		{"hdr.ktime", unsafe.Offsetof(h.KtimeNs), 24},
		{"hdr.cgroup", unsafe.Offsetof(h.CgroupId), 32},
		{"hdr.comm", unsafe.Offsetof(h.Comm), 40},
		{"hdr size", unsafe.Sizeof(h), bpfrt.HeaderSize},
		{"exec.start", unsafe.Offsetof(e.StartNs), 56},
		{"exec.args_len", unsafe.Offsetof(e.ArgsLen), 64},
		{"exec.filename_len", unsafe.Offsetof(e.FilenameLen), 66},
		{"exec.exe_len", unsafe.Offsetof(e.ExeLen), 68},
		{"exec.cwd_len", unsafe.Offsetof(e.CwdLen), 70},
		{"exec.env_len", unsafe.Offsetof(e.EnvLen), 76},
		{"exec.sflags", unsafe.Offsetof(e.Sflags), 78},
		{"exec.cgroup_v1_id", unsafe.Offsetof(e.CgroupV1Id), 80},
		{"exec.rules", unsafe.Offsetof(e.Rules), 88},
		{"exec size", unsafe.Sizeof(e), 96},
		{"fork.child", unsafe.Offsetof(f.ChildPid), 56},
		{"fork.start", unsafe.Offsetof(f.ChildStartNs), 64},
		{"exit.code", unsafe.Offsetof(x.ExitCode), 56},
		{"exit.start", unsafe.Offsetof(x.StartNs), 64},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: offset %d in the generated type, decoder assumes %d", c.name, c.got, c.want)
		}
	}
}

// execRecord builds a raw exec record as the kernel would.
func execRecord(pid uint32, args, filename, exe, cwd string, flags uint8) []byte {
	return execRecordEnv(pid, args, filename, exe, cwd, "", flags)
}

func execRecordEnv(pid uint32, args, filename, exe, cwd, env string, flags uint8) []byte {
	b := make([]byte, execSize, execSize+len(args)+len(filename)+len(exe)+len(cwd)+len(env))
	b[0] = byte(processRecordTypeRECORD_EXEC)
	b[1] = flags
	le := binary.LittleEndian
	le.PutUint32(b[4:], pid)
	le.PutUint32(b[8:], pid)
	le.PutUint32(b[12:], 1)
	le.PutUint32(b[16:], 1000)
	le.PutUint32(b[20:], 1001)
	le.PutUint64(b[24:], 5_000_000_000)
	le.PutUint64(b[32:], 42)
	copy(b[40:56], "sh\x00")
	le.PutUint64(b[56:], 4_000_000_000)
	le.PutUint16(b[64:], uint16(len(args)))
	le.PutUint16(b[66:], uint16(len(filename)))
	le.PutUint16(b[68:], uint16(len(exe)))
	le.PutUint16(b[70:], uint16(len(cwd)))
	le.PutUint16(b[76:], uint16(len(env)))
	return append(append(append(append(append(b, args...), filename...), exe...), cwd...), env...)
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
		raw := make([]byte, exitSize)
		raw[0] = byte(processRecordTypeRECORD_EXIT)
		binary.LittleEndian.PutUint64(raw[24:], 3_000)
		binary.LittleEndian.PutUint32(raw[56:], c.status)
		binary.LittleEndian.PutUint64(raw[64:], 1_000)
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
	lying := execRecord(7, "a\x00", "/a", "/a", "/", 0)
	binary.LittleEndian.PutUint16(lying[64:], 60000)
	unknown := slices.Clone(good)
	unknown[0] = 99
	for name, raw := range map[string][]byte{
		"empty":        nil,
		"short header": good[:20],
		"short exec":   good[:execSize-1],
		"short fork":   append([]byte{byte(processRecordTypeRECORD_FORK)}, make([]byte, forkSize-2)...),
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
	f.Add(make([]byte, forkSize))
	f.Add(make([]byte, exitSize))
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
