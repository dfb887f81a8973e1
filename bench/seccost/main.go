// Command seccost measures what the security sensors cost the node, in one
// run, A/B alternated:
//
//   - A: `vigil run --no-default-rules` (process and HTTP sensors; no
//     security sensor is loaded);
//   - B: `vigil run` with the built-in rules (file, network and privilege
//     sensors on);
//   - S: B again with kernel.bpf_stats_enabled=1, for BPF time only: the
//     statistics cost two clock reads per program run, which would count
//     against B's throughput.
//
// Workloads, each run under A and under B (and with no vigil, for scale):
//
//   - open: one process opens and closes /etc/hostname in a loop, which no
//     rule matches: the cost the file sensor adds to an unmatched openat;
//
//   - getppid: one process calls getppid(2), which no sensor hooks, in a
//     loop: what the syscall exit dispatcher costs every syscall of the
//     node (A and B against no vigil);
//
//   - grep: `grep -r` over /usr/share/doc (4000 files here), real software
//     doing a mix of open, read, fstat, getdents and close: syscall-heavy
//     throughput;
//
//   - matched: one opener per CPU on a file a bench rule matches, at rising
//     rates, in B only: the matched events vigil sustains with none lost.
//
//     go run ./bench/seccost -rounds 3 -duration 5s
//
// Needs root and grep. Raw samples: -out FILE.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-dev/vigil/bench/internal/benchkit"
)

type sample struct {
	Workload string  `json:"workload"`
	Mode     string  `json:"mode"` // none, A, B, S
	Round    int     `json:"round"`
	Rate     float64 `json:"rate"`  // operations per second
	NsPerOp  float64 `json:"ns_op"` // wall time per operation (open: per open+close)
	// BPF time per operation of all of vigil's programs (S only); vigil's
	// CPU per operation (B and S).
	AllBPFNs float64 `json:"all_bpf_ns,omitempty"`
	VigilCPU float64 `json:"vigil_cpu_us_op,omitempty"`
	Alerts   float64 `json:"alerts,omitempty"`
	Seconds  float64 `json:"seconds"`
	Count    float64 `json:"count,omitempty"`       // operations, exactly (open loops)
	Target   float64 `json:"target_rate,omitempty"` // matched: opens/s asked for (0: as fast as possible)
	Lost     float64 `json:"lost,omitempty"`
	Dropped  float64 `json:"dropped,omitempty"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "open-loop" {
		openLoop(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "getppid-loop" {
		getppidLoop(os.Args[2:])
		return
	}
	rounds := flag.Int("rounds", 3, "A/B rounds per workload")
	duration := flag.Duration("duration", 5*time.Second, "length of each run")
	out := flag.String("out", "", "write raw samples as JSON here")
	only := flag.String("workloads", "open,getppid,grep,matched", "which workloads to run")
	flag.Parse()
	want := map[string]bool{}
	for _, w := range strings.Split(*only, ",") {
		want[w] = true
	}
	log.SetFlags(0)

	work, err := os.MkdirTemp("", "vigil-seccost-")
	benchkit.Check(err)
	defer os.RemoveAll(work)
	repo := benchkit.RepoRoot()
	vigil := filepath.Join(work, "vigil")
	benchkit.Run(repo, "go", "build", "-o", vigil, "./cmd/vigil")
	self, err := os.Executable()
	benchkit.Check(err)

	// The matched workload's file and rule; the file lives outside /tmp
	// so that no built-in rule is about it.
	matched, err := os.MkdirTemp("/var/lib", "vigil-seccost-")
	benchkit.Check(err)
	defer os.RemoveAll(matched)
	target := filepath.Join(matched, "watched")
	benchkit.Check(os.WriteFile(target, []byte("x"), 0o644))
	rules := filepath.Join(work, "bench-rules.yaml")
	benchkit.Check(os.WriteFile(rules, []byte(fmt.Sprintf(`rules:
  - name: bench-watched-file
    description: every open of the benchmark's watched file
    severity: info
    events: [open]
    match:
      path: {exact: [%s]}
`, target)), 0o644))

	prev := benchkit.ReadStatsSysctl()
	defer benchkit.WriteStatsSysctl(prev)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	grepArgs := []string{"-r", "-c", "vigil-needle", "/usr/share/doc"}
	workloads := []struct {
		name string
		run  func(d time.Duration) result
	}{
		{"open", func(d time.Duration) result { return loopers(self, "/etc/hostname", 1, 0, d) }},
		{"getppid", func(d time.Duration) result { return child(self, "getppid-loop", d.String()) }},
		{"grep", func(d time.Duration) result { return repeat(d, "grep", grepArgs...) }},
	}
	exec.Command("grep", grepArgs...).Run() // page cache warm-up

	var samples []sample
	for _, w := range workloads {
		if !want[w.name] {
			continue
		}
		for r := range *rounds {
			modes := []string{"none", "A", "B"}
			if r%2 == 1 {
				slices.Reverse(modes)
			}
			for _, m := range append(modes, "S") {
				s := measure(ctx, vigil, work, m, nil, false, func() result { return w.run(*duration) })
				s.Workload, s.Round = w.name, r
				samples = append(samples, s)
				log.Printf("%-7s round %d %-4s %10.0f op/s %8.0f ns/op %s", w.name, r, m, s.Rate, s.NsPerOp, extra(s))
			}
		}
	}
	for _, rate := range []float64{2000, 5000, 10000, 20000, 40000, 0} {
		if !want["matched"] {
			break
		}
		n := runtime.NumCPU()
		s := measure(ctx, vigil, work, "S", []string{"--rules", rules}, true, func() result {
			return loopers(self, target, n, rate/float64(n), *duration)
		})
		s.Workload, s.Target = "matched", rate
		samples = append(samples, s)
		log.Printf("%-7s target %6.0f/s %10.0f op/s %s", "matched", rate, s.Rate, extra(s))
	}
	report(samples)
	if *out != "" {
		b, _ := json.MarshalIndent(samples, "", "  ")
		benchkit.Check(os.WriteFile(*out, b, 0o644))
	}
}

func extra(s sample) string {
	if s.Mode != "B" && s.Mode != "S" {
		return ""
	}
	return fmt.Sprintf("all-bpf %.0fns vigil %.2fus/op alerts %.0f lost %.0f dropped %.0f",
		s.AllBPFNs, s.VigilCPU, s.Alerts, s.Lost, s.Dropped)
}

// result is what a workload did: operations, over how long, and the wall
// time of one operation.
type result struct {
	ops     float64 // at the measured rate over the nominal duration
	count   float64 // exactly, when known (0: not counted)
	elapsed time.Duration
	nsPerOp float64
}

// measure runs work under mode: no vigil, A, B or S (with extra flags).
func measure(ctx context.Context, vigil, work, mode string, flags []string, perAlert bool, do func() result) sample {
	s := sample{Mode: mode}
	fill := func(r result) result {
		s.Rate, s.NsPerOp, s.Seconds, s.Count = r.ops/r.elapsed.Seconds(), r.nsPerOp, r.elapsed.Seconds(), r.count
		return r
	}
	if mode == "none" {
		fill(do())
		return s
	}
	addr := benchkit.FreeAddr()
	args := append([]string{"run", "--listen", addr, "--alerts-file", filepath.Join(work, "alerts.jsonl")}, flags...)
	if mode == "A" {
		args = append(args, "--no-default-rules")
	}
	cmd := exec.CommandContext(ctx, vigil, args...)
	cmd.Stderr = io.Discard
	benchkit.Check(cmd.Start())
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.Remove(filepath.Join(work, "alerts.jsonl"))
	}()
	benchkit.WaitReady("http://" + addr + "/readyz")
	if mode == "A" {
		fill(do())
		return s
	}
	stats := mode == "S"
	if stats {
		benchkit.WriteStatsSysctl("1")
		defer benchkit.WriteStatsSysctl("0")
	}
	progs := benchkit.ProgramsOf(cmd.Process.Pid)
	before := benchkit.ProgStats(progs)
	cpu0 := benchkit.CPUSeconds(cmd.Process.Pid)
	alerts0 := benchkit.Value(benchkit.Get("http://"+addr+"/metrics"), "vigil_alerts_total", nil)
	res := fill(do())
	after := benchkit.ProgStats(progs)
	cpuRun := benchkit.CPUSeconds(cmd.Process.Pid)
	// Programs reached by tail calls (every syscall exit program, from
	// the dispatcher) are not counted by bpf_stats on their own: their
	// time is the dispatcher's.
	var allNs uint64
	for id, a := range after {
		allNs += a.Ns - before[id].Ns
	}
	// Let vigil finish what is queued: until the alert count holds still.
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		body = benchkit.Get("http://" + addr + "/metrics")
		n := benchkit.Value(body, "vigil_alerts_total", nil) - alerts0
		if n == s.Alerts && n > 0 || res.ops == 0 {
			break
		}
		s.Alerts = n
		time.Sleep(300 * time.Millisecond)
	}
	// Per alert: vigil's CPU until it has handled the alerts queued when
	// the workload stopped. Per operation: during the workload only (the
	// wait above is idle time and metric scrapes).
	per, cpu := res.ops, cpuRun
	if perAlert {
		per, cpu = s.Alerts, benchkit.CPUSeconds(cmd.Process.Pid)
	}
	s.AllBPFNs = float64(allNs) / res.ops
	s.VigilCPU = (cpu - cpu0) * 1e6 / per
	s.Lost = benchkit.Value(body, "vigil_events_lost_total", nil)
	s.Dropped = benchkit.Value(body, "vigil_events_dropped_total", nil)
	return s
}

// loopers runs n open loops on path as child processes for d, each at
// rate opens/s (0: as fast as it can): the opens of all, and the mean ns
// per open+close of a loop.
func loopers(self, path string, n int, rate float64, d time.Duration) result {
	var (
		mu     sync.Mutex
		total  float64
		count  float64
		ns     float64
		wg     sync.WaitGroup
		errOut error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(self, "open-loop", path, d.String(), fmt.Sprint(rate)).Output()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errOut = err
				return
			}
			var ops, secs float64
			fmt.Sscan(string(out), &ops, &secs)
			total += ops / secs
			count += ops
			ns += secs * 1e9 / ops
		}()
	}
	wg.Wait()
	benchkit.Check(errOut)
	return result{ops: total * d.Seconds(), count: count, elapsed: d, nsPerOp: ns / float64(n)}
}

// openLoop is the child: open and close path for the duration (at a rate
// of opens per second, 0: unpaced). The ns per operation it implies is
// meaningful only unpaced.
func openLoop(args []string) {
	rate, err := strconv.ParseFloat(args[2], 64)
	benchkit.Check(err)
	timedLoop(args[1], rate, 100, func() {
		fd, err := syscall.Open(args[0], syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		benchkit.Check(err)
		syscall.Close(fd)
	})
}

// getppidLoop is the child: getppid(2) for the duration, unpaced.
func getppidLoop(args []string) {
	timedLoop(args[0], 0, 1000, func() { syscall.Getppid() })
}

// timedLoop runs op in batches for duration d (at rate ops/s, 0:
// unpaced), then prints the count and the seconds taken.
func timedLoop(d string, rate float64, batch int, op func()) {
	dur, err := time.ParseDuration(d)
	benchkit.Check(err)
	start := time.Now()
	var n int
	for time.Since(start) < dur {
		for range batch {
			op()
		}
		n += batch
		if rate > 0 {
			if ahead := time.Duration(float64(n)/rate*1e9) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	fmt.Println(n, time.Since(start).Seconds())
}

// child runs a loop of this program as a child process and reads its
// count and seconds.
func child(self string, args ...string) result {
	out, err := exec.Command(self, args...).Output()
	benchkit.Check(err)
	var ops, secs float64
	fmt.Sscan(string(out), &ops, &secs)
	return result{ops: ops, elapsed: time.Duration(secs * 1e9), nsPerOp: secs * 1e9 / ops}
}

// repeat runs a command again and again for d.
func repeat(d time.Duration, name string, args ...string) result {
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		cmd := exec.Command(name, args...)
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok { // grep exits 1 when nothing matches
				benchkit.Check(err)
			}
		}
		n++
	}
	el := time.Since(start)
	return result{ops: float64(n), elapsed: el, nsPerOp: float64(el.Nanoseconds()) / float64(n)}
}

func report(samples []sample) {
	fmt.Println()
	fmt.Println("| workload | rounds | no vigil op/s | A op/s | B op/s | B/A (median) | B/no vigil | A/no vigil | added ns/op (B-A, median) | added ns/op (A-no vigil) | all BPF ns/op | vigil CPU us/op |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, w := range []string{"open", "getppid", "grep"} {
		var ratios, ratiosNone, ratiosA, added, addedA, allBPF, cpu []float64
		var none, a, b float64
		n := 0
		for r := 0; ; r++ {
			var sn, sa, sb, ss *sample
			for i := range samples {
				s := &samples[i]
				if s.Workload != w || s.Round != r {
					continue
				}
				switch s.Mode {
				case "none":
					sn = s
				case "A":
					sa = s
				case "B":
					sb = s
				case "S":
					ss = s
				}
			}
			if sn == nil || sa == nil || sb == nil {
				break
			}
			n++
			none, a, b = none+sn.Rate, a+sa.Rate, b+sb.Rate
			ratios = append(ratios, sb.Rate/sa.Rate)
			ratiosNone = append(ratiosNone, sb.Rate/sn.Rate)
			ratiosA = append(ratiosA, sa.Rate/sn.Rate)
			added = append(added, sb.NsPerOp-sa.NsPerOp)
			addedA = append(addedA, sa.NsPerOp-sn.NsPerOp)
			if ss != nil {
				allBPF = append(allBPF, ss.AllBPFNs)
			}
			cpu = append(cpu, sb.VigilCPU)
		}
		if n == 0 {
			continue
		}
		fmt.Printf("| %s | %d | %.0f | %.0f | %.0f | %.3f | %.3f | %.3f | %.0f | %.0f | %.0f | %.2f |\n", w, n,
			none/float64(n), a/float64(n), b/float64(n), benchkit.Median(ratios), benchkit.Median(ratiosNone),
			benchkit.Median(ratiosA), benchkit.Median(added), benchkit.Median(addedA),
			benchkit.Median(allBPF), benchkit.Median(cpu))
	}
	fmt.Println()
	fmt.Println("| matched: opens/s asked | done/s | opens | alerts | alerts/s | lost | dropped | all BPF ns/open | vigil CPU us/alert |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, s := range samples {
		if s.Workload != "matched" {
			continue
		}
		asked := "unpaced"
		if s.Target > 0 {
			asked = fmt.Sprintf("%.0f", s.Target)
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f |\n", asked, s.Rate, s.Count, s.Alerts,
			s.Alerts/s.Seconds, s.Lost, s.Dropped, s.AllBPFNs, s.VigilCPU)
	}
}
