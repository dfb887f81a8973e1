// Package benchkit is what vigil's benchmarks share: building and running
// vigil, reading its metrics and its programs' BPF statistics, and the
// process and kernel counters the reports are made of.
package benchkit

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Median returns the median of xs (sorting it), or 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// Value sums a metric's samples whose labels include want: counters and
// gauges by value, histograms by sample count.
func Value(body, name string, want map[string]string) float64 {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	Check(err)
	base := strings.TrimSuffix(name, "_count")
	fam := fams[base]
	if fam == nil {
		fam = fams[name]
	}
	if fam == nil {
		return 0
	}
	var sum float64
	for _, m := range fam.GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// ProgStat is one program's cumulative BPF statistics.
type ProgStat struct {
	Name    string
	Ns, Cnt uint64
}

// ProgStats reads the statistics of programs ids (kernel.bpf_stats_enabled
// must be on for them to count).
func ProgStats(ids []ebpf.ProgramID) map[ebpf.ProgramID]ProgStat {
	out := map[ebpf.ProgramID]ProgStat{}
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		st, err := p.Stats()
		info, ierr := p.Info()
		p.Close()
		if err != nil {
			continue
		}
		name := ""
		if ierr == nil {
			name = info.Name
		}
		out[id] = ProgStat{name, uint64(st.Runtime), st.RunCount}
	}
	return out
}

// ProgramsOf lists the BPF programs process pid holds.
func ProgramsOf(pid int) []ebpf.ProgramID {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	var ids []ebpf.ProgramID
	for _, fd := range fds {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				ids = append(ids, ebpf.ProgramID(n))
			}
		}
	}
	return ids
}

// CPUSeconds is the user+system CPU time process pid used so far.
func CPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	Check(err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// RSSMiB is process pid's resident set size.
func RSSMiB(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024
		}
	}
	return 0
}

const statsSysctl = "/proc/sys/kernel/bpf_stats_enabled"

// ReadStatsSysctl returns kernel.bpf_stats_enabled.
func ReadStatsSysctl() string {
	b, err := os.ReadFile(statsSysctl)
	Check(err)
	return strings.TrimSpace(string(b))
}

// WriteStatsSysctl sets kernel.bpf_stats_enabled.
func WriteStatsSysctl(v string) { Check(os.WriteFile(statsSysctl, []byte(v), 0o644)) }

// FreePort returns a loopback TCP port nothing listens on.
func FreePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Check(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr is 127.0.0.1:FreePort().
func FreeAddr() string { return fmt.Sprintf("127.0.0.1:%d", FreePort()) }

// WaitPort waits until something accepts connections on port.
func WaitPort(port int) {
	for range 200 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	log.Fatalf("nothing listens on %d", port)
}

// WaitReady waits until url answers 200.
func WaitReady(url string) {
	for range 400 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	log.Fatalf("%s never ready", url)
}

// Get returns url's body.
func Get(url string) string {
	resp, err := http.Get(url)
	Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Check(err)
	return string(b)
}

// RepoRoot is the module's root directory.
func RepoRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	Check(err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// Run runs a command in dir, its output on stderr; failure is fatal.
func Run(dir string, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, os.Stderr, os.Stderr
	Check(cmd.Run())
}

// RunOut runs a command and returns its combined output; failure is fatal.
func RunOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		log.Fatalf("%s: %v\n%s", name, err, out)
	}
	return string(out)
}

// Check makes err fatal.
func Check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
