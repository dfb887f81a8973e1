package privilege_test

// The privilege sensor's events through a whole agent (internal/agenttest).

import (
	"slices"
	"testing"

	"github.com/vigil-dev/vigil/internal/agenttest"
	"github.com/vigil-dev/vigil/internal/event"
)

// TestPrivilegeKinds makes a real python3 do one of each call and checks
// every event's fields, emitted whole (vigil trace --kind ...).
func TestPrivilegeKinds(t *testing.T) {
	s := agenttest.StartSecurity(t, "", event.KindSetuid, event.KindSetgid, event.KindPtrace, event.KindMemfd)
	pid, _ := s.Python(`
import ctypes, os
os.setresuid(-1, 0, -1)
os.setgid(0)
os.memfd_create("vigil-test", os.MFD_CLOEXEC)
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace(16, os.getpid(), 0, 0)  # PTRACE_ATTACH to itself: EPERM, still a call
`)
	uid := s.EventOf(event.KindSetuid, pid, nil)
	if uid.Priv.Syscall != "setresuid" || !slices.Equal(uid.Priv.IDs, []int64{-1, 0, -1}) {
		t.Errorf("setuid %+v", uid.Priv)
	}
	agenttest.Succeeded(t, uid, "setresuid")
	gid := s.EventOf(event.KindSetgid, pid, nil)
	if gid.Priv.Syscall != "setgid" || !slices.Equal(gid.Priv.IDs, []int64{0, -1, -1}) {
		t.Errorf("setgid %+v", gid.Priv)
	}
	memfd := s.EventOf(event.KindMemfd, pid, nil)
	if memfd.Priv.Name != "vigil-test" || !slices.Equal(memfd.Priv.Flags, []string{"MFD_CLOEXEC"}) {
		t.Errorf("memfd %+v", memfd.Priv)
	}
	agenttest.Succeeded(t, memfd, "memfd_create")
	pt := s.EventOf(event.KindPtrace, pid, nil)
	if pt.Priv.Request != "PTRACE_ATTACH" || pt.Priv.TargetPID != pid || pt.Priv.Result >= 0 {
		t.Errorf("ptrace %+v result %v", pt.Priv, pt.Priv.Result)
	}
}

// TestHighRegisterBitsHideNothing: the kernel reads commands from the low
// bits of their registers only (int), so a caller may set the high bits
// without changing what the call does. The sensor must read them the same
// way: a bpf command with high bits is still BPF_PROG_LOAD. And a version 1
// capset (one 32-bit set) reports no capability above 31, whatever memory
// follows its data. (The file and network sensors have theirs.)
func TestHighRegisterBitsHideNothing(t *testing.T) {
	s := agenttest.StartSecurity(t, "", event.KindBPF, event.KindCapset)
	pid, _ := s.Python(`
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long
HIGH = 1 << 32
libc.syscall(321, L(5 | HIGH), None, L(0))                           # bpf(BPF_PROG_LOAD): EFAULT
hdr = (ctypes.c_uint32 * 2)(0x19980330, 0)                           # _LINUX_CAPABILITY_VERSION_1
data = (ctypes.c_uint32 * 6)(0, 0, 0, 0xffffffff, 0xffffffff, 0xffffffff)
assert libc.syscall(125, hdr, data) == 0                              # capget: data[0..2]
assert libc.syscall(126, hdr, data) == 0                              # capset the same, v1
`)
	if b := s.EventOf(event.KindBPF, pid, nil); b.Priv.Cmd != "BPF_PROG_LOAD" {
		t.Errorf("bpf cmd %q, want BPF_PROG_LOAD", b.Priv.Cmd)
	}
	caps := s.EventOf(event.KindCapset, pid, nil)
	for _, set := range [][]string{caps.Priv.Effective, caps.Priv.Permitted, caps.Priv.Inheritable} {
		for _, c := range set {
			if slices.Contains([]string{"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}, c) {
				t.Errorf("a version 1 capset reported %s, a capability above 31: %+v", c, caps.Priv)
			}
		}
	}
	if !slices.Contains(caps.Priv.Effective, "CAP_SYS_ADMIN") {
		t.Errorf("capset effective %v: root's CAP_SYS_ADMIN is missing", caps.Priv.Effective)
	}
}
