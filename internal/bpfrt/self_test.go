package bpfrt

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/bpftest"
)

// selfChildEnv makes the test binary, run again inside a pid namespace,
// print what it learns about itself and wait for its stdin to close.
const selfChildEnv = "VIGIL_TEST_SELF_TGID_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(selfChildEnv) == "1" {
		tgid, err := SelfTGID()
		fmt.Printf("%d %d %v\n", os.Getpid(), tgid, err)
		bufio.NewReader(os.Stdin).ReadByte()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Outside a pid namespace the kernel's pid is getpid().
func TestSelfTGID(t *testing.T) {
	bpftest.Require(t)
	bpftest.NewLeakCheck(t) // the probe program is gone afterwards
	tgid, err := SelfTGID()
	if err != nil {
		t.Fatal(err)
	}
	if tgid != uint32(os.Getpid()) {
		t.Errorf("SelfTGID = %d, getpid = %d", tgid, os.Getpid())
	}
}

// Inside a pid namespace with its own /proc, as in a container, getpid()
// is 1 and SelfTGID is the pid the node knows the process by: its
// namespace pids, in the node's /proc, are that pid and 1.
func TestSelfTGIDInPIDNamespace(t *testing.T) {
	bpftest.Require(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		bpftest.SkipOrFail(t, "unshare (util-linux) is not installed")
	}
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", os.Args[0])
	cmd.Env = append(os.Environ(), selfChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var nsPID, tgid uint32
	var errText string
	if _, err := fmt.Sscanf(line, "%d %d %s", &nsPID, &tgid, &errText); err != nil || errText != "<nil>" {
		t.Fatalf("child said %q", line)
	}
	if nsPID != 1 {
		t.Fatalf("the child is pid %d in its namespace, want 1", nsPID)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tgid))
	if err != nil {
		t.Fatalf("SelfTGID = %d, no such process on the node: %v", tgid, err)
	}
	var nspid []string
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, "NSpid:"); ok {
			nspid = strings.Fields(rest)
		}
	}
	if want := []string{strconv.Itoa(int(tgid)), "1"}; strings.Join(nspid, " ") != strings.Join(want, " ") {
		t.Errorf("SelfTGID = %d, whose NSpid is %v: want %v (the child itself)", tgid, nspid, want)
	}
}
