package event

import (
	"encoding/json"
	"testing"
	"time"
)

func TestJSONShape(t *testing.T) {
	ts := time.Date(2026, 11, 24, 14, 15, 56, 622377123, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		ev   Event
		want string
	}{
		{
			Event{Time: ts, Kind: KindExec, Process: Process{PID: 2, TID: 2, PPID: 1, Comm: "sh", Exe: "/usr/bin/dash", Args: []string{"sh"}, Cwd: "/", CgroupID: 9, Service: "dash"},
				Ancestors: []Ancestor{{PID: 1, Comm: "init", Exe: "/sbin/init", Args: []string{}}},
				Exec:      &Exec{Filename: "/bin/sh"}},
			`{"time":"2026-11-24T13:15:56.622377123Z","kind":"exec","process":{"pid":2,"tid":2,"ppid":1,"uid":0,"gid":0,"comm":"sh","exe":"/usr/bin/dash","args":["sh"],"cwd":"/","cgroup_id":9,"service":"dash"},"ancestors":[{"pid":1,"comm":"init","exe":"/sbin/init","args":[]}],"filename":"/bin/sh"}`,
		},
		{
			Event{Time: ts, Kind: KindExit, Process: Process{PID: 2, Args: []string{}, ContainerID: "abc"}, Exit: &Exit{ExitCode: 3, DurationNs: 7}},
			`{"time":"2026-11-24T13:15:56.622377123Z","kind":"exit","process":{"pid":2,"tid":0,"ppid":0,"uid":0,"gid":0,"comm":"","exe":"","args":[],"cgroup_id":0,"container_id":"abc","service":""},"exit_code":3,"signal":0,"duration_ns":7}`,
		},
		{
			Event{Time: ts, Kind: KindFork, Process: Process{PID: 2, Args: []string{}}, Fork: &Fork{ChildPID: 3}},
			`{"time":"2026-11-24T13:15:56.622377123Z","kind":"fork","process":{"pid":2,"tid":0,"ppid":0,"uid":0,"gid":0,"comm":"","exe":"","args":[],"cgroup_id":0,"service":""},"child_pid":3}`,
		},
		{
			Event{Time: ts, Kind: KindAlert, Process: Process{PID: 2, Args: []string{"cat"}},
				Ancestors: []Ancestor{{PID: 1, Comm: "sh", Exe: "/bin/sh", Args: []string{"sh"}}},
				Alert: &Alert{Rule: "r", Severity: SeverityHigh, Action: ActionKill, Description: "d",
					Event: &Event{Time: ts, Kind: KindOpen, Process: Process{PID: 2, Args: []string{"cat"}},
						File: &File{Path: "/etc/shadow", Flags: []string{"O_CLOEXEC"}, Access: "read", Result: 3}}}},
			`{"time":"2026-11-24T13:15:56.622377123Z","kind":"alert","process":{"pid":2,"tid":0,"ppid":0,"uid":0,"gid":0,"comm":"","exe":"","args":["cat"],"cgroup_id":0,"service":""},"ancestors":[{"pid":1,"comm":"sh","exe":"/bin/sh","args":["sh"]}],"rule":"r","severity":"high","action":"kill","tags":[],"description":"d","event":{"time":"2026-11-24T13:15:56.622377123Z","kind":"open","process":{"pid":2,"tid":0,"ppid":0,"uid":0,"gid":0,"comm":"","exe":"","args":["cat"],"cgroup_id":0,"service":""},"path":"/etc/shadow","flags":["O_CLOEXEC"],"access":"read","result":3}}`,
		},
		{
			Event{Time: ts, Kind: KindConnect, Process: Process{PID: 2, Args: []string{}},
				Net: &Net{Family: "AF_INET", Type: "SOCK_STREAM", Peer: &Endpoint{Addr: "10.0.0.1", Port: 22}, FD: 3}},
			`{"time":"2026-11-24T13:15:56.622377123Z","kind":"connect","process":{"pid":2,"tid":0,"ppid":0,"uid":0,"gid":0,"comm":"","exe":"","args":[],"cgroup_id":0,"service":""},"family":"AF_INET","type":"SOCK_STREAM","peer":{"addr":"10.0.0.1","port":22},"fd":3,"result":0}`,
		},
	} {
		b, err := json.Marshal(&tc.ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.ev.Kind, b, tc.want)
		}
	}
}
