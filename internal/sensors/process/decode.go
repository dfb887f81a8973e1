package process

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/proc"
)

// Record is a decoded kernel record: the event as far as the kernel knows
// it, before enrichment from the process table.
type Record struct {
	Event event.Event
	// CgroupV1ID is, for exec records, the process's memory controller
	// cgroup (see proc.Table.ExecInCgroup).
	CgroupV1ID uint64
	// StartNs is the process start time (CLOCK_BOOTTIME, as /proc reports it): with the pid it
	// identifies a process across pid reuse.
	StartNs uint64
	// Rules are, for exec records, the exec rules the kernel matched, and
	// SecFlags its policy flags (bpfpolicy.Flag*).
	Rules    uint64
	SecFlags uint8
	// ExeTruncated is, for exec records, that the executable's path was
	// deeper than the kernel's dentry walk: Event.Process.Exe is its tail.
	ExeTruncated bool

	exec event.Exec
	exit event.Exit
	fork event.Fork
}

// Sizes of the C records, from the bpf2go-generated types, onto which
// records are decoded: a field moved in C moves in Go when regenerated.
var (
	headerSize = bpfrt.HeaderSize
	execSize   = int(unsafe.Sizeof(processExecRecord{}))
	forkSize   = int(unsafe.Sizeof(processForkRecord{}))
	exitSize   = int(unsafe.Sizeof(processExitRecord{}))
)

// ErrMalformed wraps every decode failure: the record is counted and skipped.
var ErrMalformed = errors.New("malformed process record")

// Decode parses one ring buffer record into out, replacing its contents.
// It never panics on arbitrary input.
func Decode(raw []byte, clock bpfrt.Clock, out *Record) error {
	if len(raw) < headerSize {
		return fmt.Errorf("%w: %d bytes, shorter than header", ErrMalformed, len(raw))
	}
	*out = Record{}
	ev := &out.Event
	p := &ev.Process
	typ := bpfrt.RecordType(raw[0])
	flags := processExecFlags(bpfrt.DecodeHeader(raw, clock, ev))

	switch typ {
	case bpfrt.RecordExec:
		if len(raw) < execSize {
			return fmt.Errorf("%w: exec record of %d bytes", ErrMalformed, len(raw))
		}
		r := (*processExecRecord)(unsafe.Pointer(&raw[0]))
		out.StartNs = r.StartNs
		argsLen, filenameLen, exeLen, cwdLen, envLen := int(r.ArgsLen), int(r.FilenameLen), int(r.ExeLen), int(r.CwdLen), int(r.EnvLen)
		out.SecFlags = r.Sflags
		out.ExeTruncated = flags&processExecFlagsEXEC_EXE_TRUNCATED != 0
		out.CgroupV1ID = r.CgroupV1Id
		out.Rules = r.Rules
		data := raw[execSize:]
		if argsLen+filenameLen+exeLen+cwdLen+envLen > len(data) {
			return fmt.Errorf("%w: exec string lengths %d+%d+%d+%d+%d exceed %d bytes of data",
				ErrMalformed, argsLen, filenameLen, exeLen, cwdLen, envLen, len(data))
		}
		args, data := data[:argsLen], data[argsLen:]
		filename, data := data[:filenameLen], data[filenameLen:]
		exe, data := data[:exeLen], data[exeLen:]
		cwd, data := data[:cwdLen], data[cwdLen:]
		env := data[:envLen]

		p.Args = splitArgs(args)
		p.Exe = string(exe)
		p.Cwd = string(cwd)
		out.exec = event.Exec{
			Filename:      string(filename),
			ArgsTruncated: flags&(processExecFlagsEXEC_ARGS_TRUNCATED|processExecFlagsEXEC_ARGS_UNREADABLE) != 0,
		}
		if p.Exe == "" {
			p.Exe = out.exec.Filename
		}
		// The service name as the environment was at exec. When the part
		// captured does not say, the process table asks /proc.
		if v := proc.EnvService(env); v != "" {
			p.Service = v
		} else if flags&processExecFlagsEXEC_ENV_TRUNCATED == 0 && flags&processExecFlagsEXEC_ARGS_UNREADABLE == 0 {
			p.Service = proc.ServiceName(nil, p.Exe, p.Comm)
		}
		ev.Kind = event.KindExec
		ev.Exec = &out.exec
	case bpfrt.RecordFork:
		if len(raw) < forkSize {
			return fmt.Errorf("%w: fork record of %d bytes", ErrMalformed, len(raw))
		}
		r := (*processForkRecord)(unsafe.Pointer(&raw[0]))
		out.fork.ChildPID = r.ChildPid
		out.StartNs = r.ChildStartNs // the child's
		ev.Kind = event.KindFork
		ev.Fork = &out.fork
	case bpfrt.RecordExit:
		if len(raw) < exitSize {
			return fmt.Errorf("%w: exit record of %d bytes", ErrMalformed, len(raw))
		}
		r := (*processExitRecord)(unsafe.Pointer(&raw[0]))
		out.StartNs = r.StartNs
		out.exit = decodeStatus(r.ExitCode)
		if kt := r.Hdr.KtimeNs; kt > out.StartNs && out.StartNs != 0 {
			out.exit.DurationNs = kt - out.StartNs
		}
		ev.Kind = event.KindExit
		ev.Exit = &out.exit
	default:
		return fmt.Errorf("%w: unknown record type %d", ErrMalformed, typ)
	}
	return nil
}

// decodeStatus splits a wait(2) status word as the kernel stores it in
// task->exit_code.
func decodeStatus(status uint32) event.Exit {
	sig := int(status & 0x7f)
	return event.Exit{
		ExitCode:   int(status>>8) & 0xff,
		Signal:     sig,
		CoreDumped: sig != 0 && status&0x80 != 0,
	}
}

// splitArgs splits NUL-separated argv as in /proc/pid/cmdline. It always
// returns a non-nil slice so JSON shows [] rather than null.
func splitArgs(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return []string{}
	}
	args := make([]string, 0, bytes.Count(b, []byte{0})+1)
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return append(args, string(b))
		}
		args = append(args, string(b[:i]))
		b = b[i+1:]
	}
}
