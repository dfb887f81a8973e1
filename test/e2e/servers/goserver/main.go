// Command goserver is the Go net/http server of vigil's end-to-end tests:
// the same routes as server.py and server.js.
//
//	GET  /hello            200, "hello"
//	GET  /status/{code}    that status, short body
//	GET  /big?n=BYTES      200, n bytes with Content-Length
//	GET  /chunked?n=BYTES  200, n bytes with Transfer-Encoding: chunked
//	POST /echo             200, the request body's length
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The test reads the chosen port from the first line.
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			code = 400
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		writeN(w, n)
	})
	mux.HandleFunc("GET /chunked", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		bw := bufio.NewWriterSize(w, 1000)
		writeN(bw, n)
		bw.Flush()
		w.(http.Flusher).Flush() // no Content-Length: chunked
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	})
	log.Fatal(http.Serve(ln, mux))
}

func writeN(w io.Writer, n int) {
	line := strings.Repeat("x", 99) + "\n"
	for n > 0 {
		k := min(n, len(line))
		io.WriteString(w, line[:k])
		n -= k
	}
}
