// Command halfopen measures what vigil's memory does when thousands of
// connections hold unfinished header blocks (a slowloris flood, or a burst
// of large cookies): each of -conns clients sends a request line and -bytes
// of one header field in writes of 1 KiB, and never the blank line that ends
// the block. It reports vigil's RSS and Go heap before, while the
// connections are held, and -settle after they are closed, for each vigil
// binary given (this tree's build, and -baseline's if set), in one run.
//
//	go run ./bench/halfopen -conns 4000 -bytes 15000
//
// Needs root. The server is a plain TCP acceptor on loopback that reads
// and discards, as an HTTP server waiting for the end of the headers does.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-dev/vigil/bench/internal/benchkit"
)

func main() {
	conns := flag.Int("conns", 4000, "connections holding an unfinished header block")
	size := flag.Int("bytes", 15000, "bytes of the unfinished header field, per connection")
	settle := flag.Duration("settle", 30*time.Second, "how long after closing to read memory again")
	baseline := flag.String("baseline", "", "also measure this vigil binary (an earlier build)")
	flag.Parse()
	log.SetFlags(0)
	// Both ends of every connection are this process's descriptors.
	lim := syscall.Rlimit{Cur: uint64(2**conns + 1024), Max: uint64(2**conns + 1024)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Fatalf("raise the descriptor limit for %d connections: %v", *conns, err)
	}

	work, err := os.MkdirTemp("", "vigil-halfopen-")
	benchkit.Check(err)
	defer os.RemoveAll(work)
	vigil := filepath.Join(work, "vigil")
	benchkit.Run(benchkit.RepoRoot(), "go", "build", "-o", vigil, "./cmd/vigil")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	benchkit.Check(err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	bins := []string{vigil}
	if *baseline != "" {
		bins = append(bins, *baseline)
	}
	fmt.Printf("| vigil | before: RSS MiB, heap MiB | %d connections held: RSS, heap | %s after closing: RSS, heap | over_budget |\n", *conns, *settle)
	fmt.Println("|---|---|---|---|---|")
	for _, bin := range bins {
		measure(bin, ln.Addr().String(), *conns, *size, *settle)
	}
}

func measure(bin, server string, conns, size int, settle time.Duration) {
	addr := benchkit.FreeAddr()
	cmd := exec.Command(bin, "run", "--listen", addr, "--no-default-rules")
	cmd.Stderr = io.Discard
	// vigil goes with the benchmark, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	benchkit.Check(cmd.Start())
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	benchkit.WaitReady("http://" + addr + "/readyz")
	pid := cmd.Process.Pid
	read := func() (rss, heap float64, body string) {
		body = benchkit.Get("http://" + addr + "/metrics")
		return benchkit.RSSMiB(pid), benchkit.Value(body, "go_memstats_heap_inuse_bytes", nil) / (1 << 20), body
	}
	time.Sleep(2 * time.Second)
	rss0, heap0, _ := read()

	head := "GET /upload HTTP/1.1\r\nHost: bench\r\nCookie: " + strings.Repeat("x", size)
	var open []net.Conn
	for range conns {
		c, err := net.Dial("tcp", server)
		benchkit.Check(err)
		open = append(open, c)
	}
	// Writes of at most 1 KiB (each wholly captured), a round at a time,
	// so that every block is buffered across chunks as a slow sender's is.
	for off := 0; off < len(head); off += 1024 {
		part := []byte(head[off:min(off+1024, len(head))])
		for _, c := range open {
			_, err := c.Write(part)
			benchkit.Check(err)
		}
	}
	time.Sleep(3 * time.Second) // vigil reads what is queued
	rss1, heap1, _ := read()
	for _, c := range open {
		c.Close()
	}
	time.Sleep(settle)
	rss2, heap2, body := read()
	over := benchkit.Value(body, "vigil_http_parse_errors_total", map[string]string{"reason": "over_budget"})
	fmt.Printf("| %s | %.0f, %.0f | %.0f, %.0f | %.0f, %.0f | %.0f |\n", filepath.Base(bin), rss0, heap0, rss1, heap1, rss2, heap2, over)
}
