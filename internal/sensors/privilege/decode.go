package privilege

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/linuxabi"
)

// Record is a decoded privilege record: the event as far as the kernel
// knows it, before enrichment from the process table.
type Record struct {
	Event event.Event
	bpfpolicy.Verdict

	priv event.Priv
	ids  [3]int64
}

var recordSize = int(unsafe.Sizeof(privilegePrivRecord{}))

// ErrMalformed wraps every decode failure: the record is counted and skipped.
var ErrMalformed = errors.New("malformed privilege record")

// callNames names enum priv_call (read-only).
var callNames = [...]string{
	privilegePrivCallCALL_SETUID:       "setuid",
	privilegePrivCallCALL_SETREUID:     "setreuid",
	privilegePrivCallCALL_SETRESUID:    "setresuid",
	privilegePrivCallCALL_SETFSUID:     "setfsuid",
	privilegePrivCallCALL_SETGID:       "setgid",
	privilegePrivCallCALL_SETREGID:     "setregid",
	privilegePrivCallCALL_SETRESGID:    "setresgid",
	privilegePrivCallCALL_SETFSGID:     "setfsgid",
	privilegePrivCallCALL_CAPSET:       "capset",
	privilegePrivCallCALL_PTRACE:       "ptrace",
	privilegePrivCallCALL_INIT_MODULE:  "init_module",
	privilegePrivCallCALL_FINIT_MODULE: "finit_module",
	privilegePrivCallCALL_MEMFD_CREATE: "memfd_create",
	privilegePrivCallCALL_BPF:          "bpf",
}

// Decode parses one privilege record into out, replacing its contents. It
// never panics on arbitrary input.
func Decode(raw []byte, clock bpfrt.Clock, out *Record) error {
	if len(raw) < recordSize {
		return fmt.Errorf("%w: %d bytes, shorter than %d", ErrMalformed, len(raw), recordSize)
	}
	*out = Record{}
	r := (*privilegePrivRecord)(unsafe.Pointer(&raw[0]))
	ev := &out.Event
	out.Flags = bpfrt.DecodeHeader(raw, clock, ev)
	out.Rules = r.Rules
	kind := bpfpolicy.Kind(r.Kind)
	if int(r.Call) >= len(callNames) || callNames[r.Call] == "" {
		return fmt.Errorf("%w: unknown call %d", ErrMalformed, r.Call)
	}
	data := raw[recordSize:]
	nameLen, pathLen := int(r.NameLen), int(r.PathLen)
	if nameLen+pathLen > len(data) {
		return fmt.Errorf("%w: string lengths %d+%d exceed %d bytes of data", ErrMalformed, nameLen, pathLen, len(data))
	}
	p := &out.priv
	p.Syscall = callNames[r.Call]
	p.Result = r.Ret
	switch kind {
	case event.KindSetuid, event.KindSetgid:
		out.ids = r.Ids
		p.IDs = out.ids[:]
	case event.KindCapset:
		p.Effective = linuxabi.CapNames(r.Caps[0])
		p.Permitted = linuxabi.CapNames(r.Caps[1])
		p.Inheritable = linuxabi.CapNames(r.Caps[2])
	case event.KindPtrace:
		p.Request = linuxabi.PtraceRequests.NameOf(r.Arg)
		if p.Request == "" {
			p.Request = fmt.Sprintf("PTRACE_%d", r.Arg)
		}
		p.TargetPID = r.TargetPid
	case event.KindModule:
		p.Path = string(data[nameLen : nameLen+pathLen])
	case event.KindMemfd:
		p.Name = string(data[:nameLen])
		p.Flags = linuxabi.MemfdFlags.Bits(r.Arg)
	case event.KindBPF:
		p.Cmd = linuxabi.BPFCommands.NameOf(r.Arg)
		if p.Cmd == "" {
			p.Cmd = fmt.Sprintf("BPF_%d", r.Arg)
		}
	default:
		return fmt.Errorf("%w: kind %d is not a privilege kind", ErrMalformed, r.Kind)
	}
	ev.Kind = kind
	ev.Priv = p
	return nil
}
