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
)

// AllKinds lists every kind vigil can emit today, in documentation order.
var AllKinds = []Kind{KindExec, KindExit, KindFork, KindHTTP}

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
}

// Event is one thing vigil saw. Exactly one of the kind-specific pointers is
// set, matching Kind; its fields are flattened into the top-level JSON object.
type Event struct {
	Time      time.Time
	Kind      Kind
	Process   Process
	Ancestors []Ancestor // exec events and alerts

	Exec *Exec
	Exit *Exit
	Fork *Fork
	HTTP *HTTP
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
	}
	return json.Marshal(h)
}
