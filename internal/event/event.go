// Package event defines the events vigil reports: the JSON contract of
// `vigil trace --json` and of every sink (see docs/events.md).
package event

import (
	"encoding/json"
	"time"
)

// Kind names an event kind as it appears in the "kind" JSON field.
type Kind string

// Event kinds. New kinds are added to docs/events.md in the same change.
const (
	KindExec Kind = "exec"
	KindExit Kind = "exit"
	KindFork Kind = "fork"
	KindHTTP Kind = "http"

	// File activity (File).
	KindOpen    Kind = "open"
	KindUnlink  Kind = "unlink"
	KindRename  Kind = "rename"
	KindLink    Kind = "link"
	KindSymlink Kind = "symlink"
	KindChmod   Kind = "chmod"
	KindChown   Kind = "chown"
	KindMount   Kind = "mount"

	// Network activity (Net).
	KindConnect Kind = "connect"
	KindAccept  Kind = "accept"
	KindBind    Kind = "bind"
	KindListen  Kind = "listen"
	KindSocket  Kind = "socket"
	KindDup     Kind = "dup"

	// Privileges and the kernel (Priv).
	KindSetuid Kind = "setuid"
	KindSetgid Kind = "setgid"
	KindCapset Kind = "capset"
	KindPtrace Kind = "ptrace"
	KindModule Kind = "module"
	KindMemfd  Kind = "memfd"
	KindBPF    Kind = "bpf"

	// A rule matched (Alert).
	KindAlert Kind = "alert"
)

// AllKinds lists every kind vigil can emit today, in documentation order.
var AllKinds = []Kind{
	KindExec, KindExit, KindFork, KindHTTP,
	KindOpen, KindUnlink, KindRename, KindLink, KindSymlink, KindChmod, KindChown, KindMount,
	KindConnect, KindAccept, KindBind, KindListen, KindSocket, KindDup,
	KindSetuid, KindSetgid, KindCapset, KindPtrace, KindModule, KindMemfd, KindBPF,
	KindAlert,
}

// FileKinds, NetKinds and PrivKinds are the kinds carried by File, Net and
// Priv.
var (
	FileKinds = []Kind{KindOpen, KindUnlink, KindRename, KindLink, KindSymlink, KindChmod, KindChown, KindMount}
	NetKinds  = []Kind{KindConnect, KindAccept, KindBind, KindListen, KindSocket, KindDup}
	PrivKinds = []Kind{KindSetuid, KindSetgid, KindCapset, KindPtrace, KindModule, KindMemfd, KindBPF}
)

// Process identifies the process an event belongs to.
type Process struct {
	PID         uint32   `json:"pid"`
	TID         uint32   `json:"tid"`
	PPID        uint32   `json:"ppid"`
	UID         uint32   `json:"uid"`
	GID         uint32   `json:"gid"`
	Comm        string   `json:"comm"`
	Exe         string   `json:"exe"`
	Args        []string `json:"args"`
	Cwd         string   `json:"cwd,omitempty"`
	CgroupID    uint64   `json:"cgroup_id"`
	ContainerID string   `json:"container_id,omitempty"`
	Service     string   `json:"service"`
}

// Ancestor is one step of a process's lineage, nearest parent first.
type Ancestor struct {
	PID  uint32   `json:"pid"`
	Comm string   `json:"comm"`
	Exe  string   `json:"exe"`
	Args []string `json:"args"`
}

// Exec carries the fields of an exec event.
type Exec struct {
	// Filename is the path the program was executed as (execve's first
	// argument); Process.Exe is the resolved executable file.
	Filename string `json:"filename"`
	// ArgsTruncated is true when argv did not fit the capture buffer.
	ArgsTruncated bool `json:"args_truncated,omitempty"`
}

// Exit carries the fields of an exit event: the whole process (thread group)
// has ended.
type Exit struct {
	ExitCode   int    `json:"exit_code"`
	Signal     int    `json:"signal"`
	CoreDumped bool   `json:"core_dumped,omitempty"`
	DurationNs uint64 `json:"duration_ns"`
}

// Fork carries the fields of a fork event: a new process (not a thread).
type Fork struct {
	ChildPID uint32 `json:"child_pid"`
}

// Endpoint is one end of a connection.
type Endpoint struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

// HTTP side values.
const (
	SideServer = "server"
	SideClient = "client"
)

// HTTP carries the fields of an http event: one request/response exchange,
// seen from the server or the client process.
type HTTP struct {
	Side   string `json:"side"` // SideServer or SideClient
	Method string `json:"method"`
	// Path is the request target without the query string, which may hold
	// secrets and is never exported.
	Path string `json:"path"`
	// Route is Path with variable segments collapsed (/users/{id}).
	Route      string `json:"route"`
	Status     int    `json:"status"`
	DurationNs uint64 `json:"duration_ns"`
	// Host is the request's Host header, when present.
	Host              string   `json:"host,omitempty"`
	RequestBodyBytes  uint64   `json:"request_body_bytes"`
	ResponseBodyBytes uint64   `json:"response_body_bytes"`
	Local             Endpoint `json:"local"`
	Peer              Endpoint `json:"peer"`
	TraceID           string   `json:"trace_id,omitempty"`
	SpanID            string   `json:"span_id,omitempty"`
	ParentSpanID      string   `json:"parent_span_id,omitempty"`
	// Caller is, for a server exchange whose client end vigil saw on this
	// node, that client end: the service graph's edge. Not exported.
	Caller *Caller `json:"-"`
}

// Caller is the client end of a node-local HTTP exchange.
type Caller struct {
	PID        uint32
	Service    string // filled from the process table, as Process.Service
	Status     int    // the status the client read (0: none)
	DurationNs uint64 // as the client saw it
}

// File carries the fields of file events. Path is always set; the other
// fields belong to the kinds named in their comments.
type File struct {
	// Path is the file acted on: the file opened, unlinked, renamed
	// (its old name), chmod-ed or chown-ed, the link created (link,
	// symlink), or the mount point (mount). Absolute.
	Path string `json:"path"`
	// PathTruncated is true when Path (or NewPath, Target) lost its
	// leading directories: the file lies deeper than the kernel's walk
	// goes, or the path was longer than its buffer.
	PathTruncated bool `json:"path_truncated,omitempty"`
	// NewPath is where a rename moved the file.
	NewPath string `json:"new_path,omitempty"`
	// Target is what a link or symlink points to: for link the existing
	// file, for symlink the target string as given (it may be relative).
	Target string `json:"target,omitempty"`
	// Flags are the open flags by name (O_WRONLY, O_CREAT, ...); mount
	// flags for mount (MS_BIND, ...).
	Flags []string `json:"flags,omitempty"`
	// Access is what an open allows: read, write or read_write.
	Access string `json:"access,omitempty"`
	// Created is true when an open created the file.
	Created bool `json:"created,omitempty"`
	// Mode is the permission bits set by chmod, or given to an open that
	// may create the file.
	Mode *uint32 `json:"mode,omitempty"`
	// UID and GID are the owner chown sets; -1 leaves it unchanged.
	UID *int64 `json:"uid,omitempty"`
	GID *int64 `json:"gid,omitempty"`
	// Dir is true when unlink removed a directory (rmdir).
	Dir bool `json:"dir,omitempty"`
	// Source and FSType describe what a mount attaches.
	Source string `json:"source,omitempty"`
	FSType string `json:"fstype,omitempty"`
	// Result is the syscall's return value: the fd for open, else 0 on
	// success or -errno.
	Result int64 `json:"result"`
}

// Net carries the fields of network events.
type Net struct {
	// Family is the address family by name: AF_INET, AF_INET6, AF_UNIX,
	// AF_PACKET, ...
	Family string `json:"family"`
	// Type and Protocol of the socket (socket: SOCK_STREAM, SOCK_RAW, ...;
	// protocol number).
	Type     string `json:"type,omitempty"`
	Protocol int    `json:"protocol,omitempty"`
	// Local and Peer are the socket's ends, when known: connect sets
	// Peer, accept both, bind and listen Local.
	Local *Endpoint `json:"local,omitempty"`
	Peer  *Endpoint `json:"peer,omitempty"`
	// FD is the socket's descriptor; for dup, the descriptor duplicated.
	FD int64 `json:"fd"`
	// NewFD is the descriptor dup2/dup3 wrote over (0, 1 or 2).
	NewFD *int64 `json:"new_fd,omitempty"`
	// Result is the syscall's return value: 0 or a new fd on success,
	// else -errno.
	Result int64 `json:"result"`
}

// Priv carries the fields of privilege and kernel events.
type Priv struct {
	// Syscall names the call: setuid, setresuid, capset, ptrace,
	// finit_module, memfd_create, bpf, ...
	Syscall string `json:"syscall"`
	// UIDs (setuid) or GIDs (setgid) as requested: [real, effective,
	// saved]; -1 leaves one unchanged.
	IDs []int64 `json:"ids,omitempty"`
	// Capability sets capset installs, by name.
	Effective   []string `json:"effective,omitempty"`
	Permitted   []string `json:"permitted,omitempty"`
	Inheritable []string `json:"inheritable,omitempty"`
	// Request is the ptrace request (PTRACE_ATTACH, ...) and TargetPID
	// the process it acts on.
	Request   string `json:"request,omitempty"`
	TargetPID uint32 `json:"target_pid,omitempty"`
	// Name is the memfd name, or the module name when known.
	Name string `json:"name,omitempty"`
	// Path is the module file (finit_module), when known.
	Path string `json:"path,omitempty"`
	// Cmd is the bpf(2) command (BPF_PROG_LOAD, ...).
	Cmd string `json:"cmd,omitempty"`
	// Flags are the call's flags by name (memfd: MFD_CLOEXEC, ...).
	Flags []string `json:"flags,omitempty"`
	// Result is the syscall's return value, -errno on failure.
	Result int64 `json:"result"`
}

// Alert severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Alert actions: what vigil did besides reporting.
const (
	ActionAlert = "alert" // reported only
	ActionKill  = "kill"  // the process was sent SIGKILL in the kernel
	ActionDeny  = "deny"  // the operation failed with EPERM
)

// Alert carries the fields of an alert event: a rule matched Event.
type Alert struct {
	Rule        string   `json:"rule"`
	Severity    string   `json:"severity"`
	Action      string   `json:"action"`
	Tags        []string `json:"tags"`
	Description string   `json:"description,omitempty"`
	// Event is the triggering event, whole.
	Event *Event `json:"event"`
}

// Event is one thing vigil saw. Exactly one of the kind-specific pointers is
// set, matching Kind; its fields are flattened into the top-level JSON object.
type Event struct {
	Time      time.Time
	Kind      Kind
	Process   Process
	Ancestors []Ancestor // exec events and alerts

	Exec  *Exec
	Exit  *Exit
	Fork  *Fork
	HTTP  *HTTP
	File  *File
	Net   *Net
	Priv  *Priv
	Alert *Alert
}

// header is the part of the JSON object every event shares.
type header struct {
	Time      string     `json:"time"`
	Kind      Kind       `json:"kind"`
	Process   *Process   `json:"process"`
	Ancestors []Ancestor `json:"ancestors,omitempty"`
}

// MarshalJSON renders the event contract: the shared header followed by the
// kind's own fields at top level.
func (e *Event) MarshalJSON() ([]byte, error) {
	h := header{
		Time:      e.Time.UTC().Format(time.RFC3339Nano),
		Kind:      e.Kind,
		Process:   &e.Process,
		Ancestors: e.Ancestors,
	}
	switch {
	case e.Exec != nil:
		return json.Marshal(struct {
			header
			*Exec
		}{h, e.Exec})
	case e.Exit != nil:
		return json.Marshal(struct {
			header
			*Exit
		}{h, e.Exit})
	case e.Fork != nil:
		return json.Marshal(struct {
			header
			*Fork
		}{h, e.Fork})
	case e.HTTP != nil:
		return json.Marshal(struct {
			header
			*HTTP
		}{h, e.HTTP})
	case e.File != nil:
		return json.Marshal(struct {
			header
			*File
		}{h, e.File})
	case e.Net != nil:
		return json.Marshal(struct {
			header
			*Net
		}{h, e.Net})
	case e.Priv != nil:
		return json.Marshal(struct {
			header
			*Priv
		}{h, e.Priv})
	case e.Alert != nil:
		return e.marshalAlert(h)
	}
	return json.Marshal(h)
}

// alertFields are an alert's own fields; the triggering event is appended
// by hand, since encoding/json would re-validate and copy its (already
// encoded) bytes once per level of nesting.
type alertFields struct {
	Rule        string   `json:"rule"`
	Severity    string   `json:"severity"`
	Action      string   `json:"action"`
	Tags        []string `json:"tags"`
	Description string   `json:"description,omitempty"`
}

func (e *Event) marshalAlert(h header) ([]byte, error) {
	a := e.Alert
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	b, err := json.Marshal(struct {
		header
		alertFields
	}{h, alertFields{a.Rule, a.Severity, a.Action, tags, a.Description}})
	if err != nil || a.Event == nil {
		return b, err
	}
	inner, err := a.Event.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b = append(b[:len(b)-1], `,"event":`...)
	b = append(b, inner...)
	return append(b, '}'), nil
}
