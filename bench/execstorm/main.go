// Command execstorm is the load generator of bench/exec-storm.sh: N workers
// fork+exec a tiny binary (/bin/true) back to back for a fixed time, then it
// prints one JSON line {"execs": total, "seconds": elapsed, "rate": execs/s,
// "cpu_seconds": CPU used by the generator and its children}.
//
// It calls syscall.ForkExec and Wait4 directly instead of os/exec: os/exec
// adds pipes, goroutines and allocations per child, which would make the
// generator itself a noticeable part of what is measured.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type result struct {
	Execs   uint64  `json:"execs"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	// CPUSeconds is user+system time of this process and of the children
	// it waited for during the run: with the node's busy time it shows
	// how much CPU went to something other than the storm.
	CPUSeconds float64 `json:"cpu_seconds"`
}

func main() {
	workers := flag.Int("workers", runtime.NumCPU(), "concurrent fork+exec loops")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	bin := flag.String("bin", "/bin/true", "binary to execute (no arguments)")
	flag.Parse()
	if *workers < 1 || *duration <= 0 {
		fmt.Fprintln(os.Stderr, "execstorm: -workers must be >= 1 and -duration > 0")
		os.Exit(2)
	}

	// The children get /dev/null as stdin/stdout/stderr: a real exec with
	// the usual three descriptors, but nothing to read or write.
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "execstorm:", err)
		os.Exit(1)
	}
	fd := devnull.Fd()
	attr := &syscall.ProcAttr{
		Env:   []string{"PATH=/usr/bin:/bin"},
		Files: []uintptr{fd, fd, fd},
	}
	argv := []string{*bin}

	// Fail fast on a bad binary instead of counting failures for 10 s.
	if err := spawn(*bin, argv, attr); err != nil {
		fmt.Fprintln(os.Stderr, "execstorm:", err)
		os.Exit(1)
	}

	var total atomic.Uint64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := cpuSeconds()
	start := time.Now()
	deadline := start.Add(*duration)
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n uint64
			for time.Now().Before(deadline) {
				if err := spawn(*bin, argv, attr); err != nil {
					firstErr.CompareAndSwap(nil, err)
					break
				}
				n++
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	// Elapsed includes each worker's last, in-flight exec, so execs and
	// seconds describe the same interval.
	elapsed := time.Since(start).Seconds()
	cpu := cpuSeconds() - cpu0
	if err, _ := firstErr.Load().(error); err != nil {
		fmt.Fprintln(os.Stderr, "execstorm:", err)
		os.Exit(1)
	}
	execs := total.Load()
	out, _ := json.Marshal(result{Execs: execs, Seconds: elapsed, Rate: float64(execs) / elapsed, CPUSeconds: cpu})
	fmt.Println(string(out))
}

// spawn runs bin once and waits for it; a non-zero exit is an error.
func spawn(bin string, argv []string, attr *syscall.ProcAttr) error {
	pid, err := syscall.ForkExec(bin, argv, attr)
	if err != nil {
		return fmt.Errorf("fork+exec %s: %w", bin, err)
	}
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("wait for %s (pid %d): %w", bin, pid, err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("%s (pid %d) ended with status %v", bin, pid, ws)
	}
	return nil
}

// cpuSeconds is the user+system time of this process and its waited-for
// children so far.
func cpuSeconds() float64 {
	var sum float64
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			sum += float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		}
	}
	return sum
}
