// Command httpload measures what vigil costs an HTTP server under load, and
// whether it keeps count: wrk drives nginx and a Go net/http server on
// loopback, without vigil (A) and with `vigil run` (B), alternated in one
// run. It reports throughput and p99 latency ratios, vigil's CPU per 1k
// requests, its RSS, lost and dropped records, whether vigil's request
// count equals wrk's, and the BPF time per request, from a third run per
// round (S: B with kernel.bpf_stats_enabled=1, whose two clock reads per
// program run would otherwise count against B's throughput).
//
//	go run ./bench/httpload -rounds 3 -duration 10s
//
// Needs root, wrk, nginx and the goserver of test/e2e (built here).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/vigil-dev/vigil/bench/internal/benchkit"
)

type target struct {
	name, service string
	port          int
	path          string
}

type sample struct {
	Target      string  `json:"target"`
	Round       int     `json:"round"`
	WithVigil   bool    `json:"with_vigil"`
	Baseline    bool    `json:"baseline,omitempty"`  // B0: the -baseline binary
	Stats       bool    `json:"bpf_stats,omitempty"` // S: for BPF time only
	Requests    float64 `json:"requests"`            // wrk's count
	RPS         float64 `json:"rps"`
	P99Ms       float64 `json:"p99_ms"`
	VigilCount  float64 `json:"vigil_count,omitempty"` // server-side requests vigil counted
	BPFNsPerReq float64 `json:"bpf_ns_per_request,omitempty"`
	CPUmsPer1k  float64 `json:"vigil_cpu_ms_per_1k,omitempty"`
	RSSMiB      float64 `json:"vigil_rss_mib,omitempty"`
	Lost        float64 `json:"lost,omitempty"`
	Dropped     float64 `json:"dropped,omitempty"`
}

func main() {
	rounds := flag.Int("rounds", 3, "A/B rounds per target")
	duration := flag.Duration("duration", 10*time.Second, "wrk duration per run")
	conns := flag.Int("connections", 32, "wrk connections")
	out := flag.String("out", "", "write raw samples as JSON here")
	baseline := flag.String("baseline", "", "also run this vigil binary (an earlier build) in every round, to compare")
	flag.Parse()
	log.SetFlags(0)

	work, err := os.MkdirTemp("", "vigil-httpload-")
	benchkit.Check(err)
	defer os.RemoveAll(work)
	repo := benchkit.RepoRoot()
	vigil := filepath.Join(work, "vigil")
	goserver := filepath.Join(work, "goserver")
	benchkit.Run(repo, "go", "build", "-o", vigil, "./cmd/vigil")
	benchkit.Run(repo, "go", "build", "-o", goserver, "./test/e2e/servers/goserver")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	targets := []target{
		startNginx(ctx, work),
		startGoServer(ctx, goserver),
	}
	prevStats := benchkit.ReadStatsSysctl()
	defer benchkit.WriteStatsSysctl(prevStats)

	var samples []sample
	// The variants of a round, rotated from round to round; the stats run
	// (this build, with bpf_stats) comes last.
	type variant struct {
		bin      string // "" without vigil
		baseline bool
	}
	variants := []variant{{}, {bin: vigil}}
	if *baseline != "" {
		variants = append(variants, variant{bin: *baseline, baseline: true})
	}
	for _, t := range targets {
		for r := range *rounds {
			for i := range len(variants) + 1 {
				v, stats := variants[(i+r)%len(variants)], false
				if i == len(variants) {
					v, stats = variant{bin: vigil}, true
				}
				s := measure(ctx, v.bin, work, t, v.bin != "", stats, *duration, *conns)
				s.Round, s.Baseline = r, v.baseline
				samples = append(samples, s)
				log.Printf("%-8s round %d vigil=%-5v baseline=%-5v stats=%-5v rps %9.0f p99 %6.2fms %s", t.name, r, s.WithVigil, s.Baseline, stats, s.RPS, s.P99Ms, extra(s))
			}
		}
	}
	report(samples, targets, false)
	if *baseline != "" {
		fmt.Printf("\nB0, the baseline binary %s:\n", *baseline)
		report(samples, targets, true)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(samples, "", "  ")
		benchkit.Check(os.WriteFile(*out, b, 0o644))
	}
}

func extra(s sample) string {
	if !s.WithVigil {
		return ""
	}
	return fmt.Sprintf("counted %.0f/%.0f bpf %.0fns/req cpu %.1fms/1k rss %.0fMiB lost %.0f dropped %.0f",
		s.VigilCount, s.Requests, s.BPFNsPerReq, s.CPUmsPer1k, s.RSSMiB, s.Lost, s.Dropped)
}

func measure(ctx context.Context, vigil, work string, t target, with, stats bool, d time.Duration, conns int) sample {
	s := sample{Target: t.name, WithVigil: with, Stats: stats}
	var (
		vcmd     *exec.Cmd
		addr     string
		progs    []ebpf.ProgramID
		before   map[ebpf.ProgramID]benchkit.ProgStat
		cpu0     float64
		countPre float64
	)
	if with {
		addr = benchkit.FreeAddr()
		vcmd = exec.CommandContext(ctx, vigil, "run", "--listen", addr)
		vcmd.Stderr = io.Discard
		benchkit.Check(vcmd.Start())
		benchkit.WaitReady("http://" + addr + "/readyz")
		if stats {
			benchkit.WriteStatsSysctl("1")
		}
		progs = benchkit.ProgramsOf(vcmd.Process.Pid)
		before = benchkit.ProgStats(progs)
		cpu0 = benchkit.CPUSeconds(vcmd.Process.Pid)
		countPre = serverCount(addr, t)
	}
	wrkOut := benchkit.RunOut("wrk", "-t2", fmt.Sprintf("-c%d", conns), "-d"+d.String(), "--latency",
		fmt.Sprintf("http://127.0.0.1:%d%s", t.port, t.path))
	s.Requests, s.RPS, s.P99Ms = parseWrk(wrkOut)
	if with {
		after := benchkit.ProgStats(progs)
		var ns uint64
		for id, a := range after {
			ns += a.Ns - before[id].Ns
		}
		// wrk's requests are served, and also made, on this node; the
		// BPF time covers both ends, per request. Syscall programs are
		// tail calls, counted in the dispatcher's time.
		if stats {
			s.BPFNsPerReq = float64(ns) / s.Requests
		}
		// Let vigil finish what is queued before reading its counters.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.VigilCount = serverCount(addr, t) - countPre
			if s.VigilCount >= s.Requests || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		s.CPUmsPer1k = (benchkit.CPUSeconds(vcmd.Process.Pid) - cpu0) * 1000 / (s.Requests / 1000)
		s.RSSMiB = benchkit.RSSMiB(vcmd.Process.Pid)
		body := benchkit.Get("http://" + addr + "/metrics")
		s.Lost = benchkit.Value(body, "vigil_events_lost_total", nil)
		s.Dropped = benchkit.Value(body, "vigil_events_dropped_total", nil)
		benchkit.WriteStatsSysctl("0")
		vcmd.Process.Signal(syscall.SIGTERM)
		vcmd.Wait()
	}
	return s
}

// report prints a row per target: this build's samples against A, or with
// baseline the -baseline binary's (whose BPF column stays empty: only this
// build gets a stats run).
func report(samples []sample, targets []target, baseline bool) {
	fmt.Println()
	fmt.Println("| target | rounds | rps without | rps with | ratio (median) | p99 ratio (median) | BPF ns/request | vigil CPU ms/1k req | RSS MiB | counted/served | lost | dropped |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, t := range targets {
		var ratios, p99s, bpf, cpu, rss []float64
		var a, b, counted, served, lost, dropped float64
		n := 0
		for r := 0; ; r++ {
			var sa, sb, ss *sample
			for i := range samples {
				s := &samples[i]
				if s.Target == t.name && s.Round == r {
					switch {
					case s.Stats:
						if !baseline {
							ss = s
						}
					case !s.WithVigil:
						sa = s
					case s.Baseline == baseline:
						sb = s
					}
				}
			}
			if sa == nil || sb == nil {
				break
			}
			n++
			a += sa.RPS
			b += sb.RPS
			ratios = append(ratios, sb.RPS/sa.RPS)
			p99s = append(p99s, sb.P99Ms/sa.P99Ms)
			if ss != nil {
				bpf = append(bpf, ss.BPFNsPerReq)
			}
			cpu = append(cpu, sb.CPUmsPer1k)
			rss = append(rss, sb.RSSMiB)
			counted += sb.VigilCount
			served += sb.Requests
			lost += sb.Lost
			dropped += sb.Dropped
		}
		fmt.Printf("| %s | %d | %.0f | %.0f | %.3f | %.2f | %.0f | %.2f | %.0f | %.0f/%.0f | %.0f | %.0f |\n",
			t.name, n, a/float64(n), b/float64(n), benchkit.Median(ratios), benchkit.Median(p99s), benchkit.Median(bpf), benchkit.Median(cpu), benchkit.Median(rss), counted, served, lost, dropped)
	}
}

var (
	reqsRe = regexp.MustCompile(`(\d+) requests in`)
	rpsRe  = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	p99Re  = regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)`)
)

func parseWrk(out string) (reqs, rps, p99ms float64) {
	m := reqsRe.FindStringSubmatch(out)
	r := rpsRe.FindStringSubmatch(out)
	p := p99Re.FindStringSubmatch(out)
	if m == nil || r == nil || p == nil {
		log.Fatalf("cannot parse wrk output:\n%s", out)
	}
	reqs, _ = strconv.ParseFloat(m[1], 64)
	rps, _ = strconv.ParseFloat(r[1], 64)
	p99ms, _ = strconv.ParseFloat(p[1], 64)
	switch p[2] {
	case "us":
		p99ms /= 1000
	case "s":
		p99ms *= 1000
	}
	return reqs, rps, p99ms
}

// serverCount is what vigil counted on the server's port. Not by service
// name: a server that started before vigil and rewrote its environment
// area with its process title (nginx does) no longer shows its
// OTEL_SERVICE_NAME in /proc, and is named after its executable.
func serverCount(addr string, t target) float64 {
	return benchkit.Value(benchkit.Get("http://"+addr+"/metrics"), "http_server_request_duration_seconds_count",
		map[string]string{"server_port": strconv.Itoa(t.port)})
}

func startNginx(ctx context.Context, work string) target {
	dir := filepath.Join(work, "nginx")
	benchkit.Check(os.MkdirAll(filepath.Join(dir, "www"), 0o755))
	benchkit.Check(os.WriteFile(filepath.Join(dir, "www", "hello"), []byte("hello\n"), 0o644))
	port := benchkit.FreePort()
	conf := fmt.Sprintf(`daemon off; worker_processes 1; user root; pid %[1]s/nginx.pid;
error_log %[1]s/error.log; env OTEL_SERVICE_NAME;
events { worker_connections 1024; }
http { access_log off; sendfile on; keepalive_requests 1000000;
  client_body_temp_path %[1]s/b; proxy_temp_path %[1]s/p; fastcgi_temp_path %[1]s/f; uwsgi_temp_path %[1]s/u; scgi_temp_path %[1]s/s;
  server { listen 127.0.0.1:%[2]d; root %[1]s/www; } }
`, dir, port)
	benchkit.Check(os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
	cmd := exec.CommandContext(ctx, "nginx", "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME=bench-nginx")
	// The context's default SIGKILL stops the master and leaves the
	// worker running; SIGQUIT has the master stop its workers first.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	benchkit.Check(cmd.Start())
	benchkit.WaitPort(port)
	return target{name: "nginx", service: "bench-nginx", port: port, path: "/hello"}
}

func startGoServer(ctx context.Context, bin string) target {
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME=bench-go")
	out, err := cmd.StdoutPipe()
	benchkit.Check(err)
	benchkit.Check(cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	benchkit.Check(err)
	port, err := strconv.Atoi(strings.TrimSpace(line))
	benchkit.Check(err)
	return target{name: "go", service: "bench-go", port: port, path: "/hello"}
}
