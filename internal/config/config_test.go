package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9464" {
		t.Errorf("default listen %q", c.Listen)
	}
}

func TestFileThenEnv(t *testing.T) {
	p := writeFile(t, "listen: 0.0.0.0:9000\nprocess:\n  ring_buffer_bytes: 16777216\n  queue_length: 10\n")
	c, err := Load(p, env(map[string]string{"VIGIL_PROCESS_QUEUE_LENGTH": "20"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.Process.RingBufferBytes != 16<<20 || c.Process.QueueLength != 20 {
		t.Errorf("got %+v", c)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	for name, tc := range map[string]struct {
		file string
		env  map[string]string
		want string
	}{
		"unknown key":        {file: "listne: x\n", want: "listne"},
		"unknown nested key": {file: "process:\n  ring_size: 4096\n", want: "ring_size"},
		"wrong type":         {file: "process:\n  queue_length: lots\n", want: "queue_length"},
		"bad listen":         {file: "listen: nowhere\n", want: "listen"},
		"bad port":           {file: "listen: 127.0.0.1:99999\n", want: "listen"},
		"ring not pow2":      {file: "process:\n  ring_buffer_bytes: 5000\n", want: "process.ring_buffer_bytes"},
		"queue zero":         {file: "process:\n  queue_length: 0\n", want: "process.queue_length"},
		"env not a number":   {env: map[string]string{"VIGIL_PROCESS_RING_BUFFER_BYTES": "big"}, want: "process.ring_buffer_bytes"},
		"not yaml":           {file: "{[", want: "vigil.yaml"},
		"bad exe glob":       {file: "http:\n  select:\n    executables: ['[x']\n", want: "http.select.executables"},
		"unknown select key": {file: "http:\n  select:\n    exe: [x]\n", want: "exe"},
		"bad route":          {file: "http:\n  routes: ['/a/{']\n", want: "http.routes"},
		"bad otlp protocol":  {file: "otlp:\n  protocol: thrift\n", want: "otlp.protocol"},
		"bad otlp endpoint":  {file: "otlp:\n  endpoint: collector:4317\n", want: "otlp.endpoint"},
	} {
		t.Run(name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			c, err := Load(path, env(tc.env))
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load("/nonexistent/vigil.yaml", env(nil)); err == nil {
		t.Error("want error")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("listen: 127.0.0.1:1\nprocess: {queue_length: 3}\n")
	f.Add("process: [1, 2]\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, env(nil))
		if err == nil {
			_ = c.Validate() // must not panic
		}
	})
}

func TestOTLPSectionBecomesEnvironment(t *testing.T) {
	o := OTLP{Endpoint: "http://c:4318", Protocol: "grpc", Headers: map[string]string{"authorization": "Bearer x y", "a": "1"}}
	got := o.Environment(env(map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}))
	want := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "a=1,authorization=Bearer%20x%20y"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v (the set protocol variable wins)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// A named pipe nobody writes, or a directory, is refused at once rather
// than blocking the start.
func TestNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "vigil.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo: "config " + fifo + ": a named pipe: the configuration must be a regular file",
		dir:  "config " + dir + ": a directory: the configuration must be a regular file",
	} {
		if _, err := Load(path, env(nil)); err == nil || err.Error() != want {
			t.Errorf("Load(%s): %v, want %q", path, err, want)
		}
	}
}
