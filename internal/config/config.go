// Package config is vigil's one typed configuration: defaults, then a YAML
// file, then VIGIL_* environment variables, then command-line flags (applied
// by the caller). Unknown keys and invalid values are errors naming the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/vigil-dev/vigil/internal/route"
	"github.com/vigil-dev/vigil/internal/selector"
)

// Config is everything `vigil run` can be told. docs/configuration.md lists
// every key; keep it in step.
type Config struct {
	// Listen is the address of the HTTP server for /metrics, /healthz and
	// /readyz.
	Listen  string  `yaml:"listen"`
	Process Process `yaml:"process"`
	HTTP    HTTP    `yaml:"http"`
	OTLP    OTLP    `yaml:"otlp"`
	Rules   Rules   `yaml:"rules"`
	Alerts  Alerts  `yaml:"alerts"`
}

// Rules says which detection rules run (docs/rules.md).
type Rules struct {
	// Builtin turns the built-in default ruleset on.
	Builtin bool `yaml:"builtin"`
	// Files are rule files loaded after the built-ins, in order.
	Files []string `yaml:"files"`
}

// Alerts says where alerts go.
type Alerts struct {
	// File receives alerts as JSON lines (appended); empty: stdout.
	File string `yaml:"file"`
}

// OTLP sets the standard OTEL_EXPORTER_OTLP_* variables from the file, for
// deployments that prefer one configuration file; the variables, when set,
// win (env overrides file).
type OTLP struct {
	Endpoint string            `yaml:"endpoint"` // OTEL_EXPORTER_OTLP_ENDPOINT
	Protocol string            `yaml:"protocol"` // OTEL_EXPORTER_OTLP_PROTOCOL: grpc or http/protobuf
	Headers  map[string]string `yaml:"headers"`  // OTEL_EXPORTER_OTLP_HEADERS
}

// Environment returns the OTEL_* variables the otlp section stands for,
// leaving out those lookup already finds set.
func (o OTLP) Environment(lookup func(string) (string, bool)) map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if _, ok := lookup(k); !ok && v != "" {
			out[k] = v
		}
	}
	set("OTEL_EXPORTER_OTLP_ENDPOINT", o.Endpoint)
	set("OTEL_EXPORTER_OTLP_PROTOCOL", o.Protocol)
	if len(o.Headers) > 0 {
		var kv []string
		for k, v := range o.Headers {
			kv = append(kv, url.PathEscape(k)+"="+url.PathEscape(v))
		}
		sort.Strings(kv)
		set("OTEL_EXPORTER_OTLP_HEADERS", strings.Join(kv, ","))
	}
	return out
}

// HTTP configures HTTP observability.
type HTTP struct {
	// Enabled turns HTTP capture and RED metrics on.
	Enabled bool `yaml:"enabled"`
	// RingBufferBytes is the kernel ring buffer size of the socket sensor.
	RingBufferBytes uint32 `yaml:"ring_buffer_bytes"`
	// QueueLength is how many records wait in userspace.
	QueueLength int `yaml:"queue_length"`
	// MaxConnections bounds the connections tracked (kernel and userspace).
	MaxConnections int `yaml:"max_connections"`
	// HeaderBufferBytes bounds the header blocks that span syscalls,
	// buffered for all connections together.
	HeaderBufferBytes int `yaml:"header_buffer_bytes"`
	// Routes are route patterns (/users/{id}, /static/*) tried before the
	// heuristic that collapses variable path segments.
	Routes []string `yaml:"routes"`
	// MaxSeries caps the label sets of each HTTP metric.
	MaxSeries int `yaml:"max_series"`
	// Select, when any rule is set, limits instrumentation to the
	// processes and ports it matches; Exclude removes what it matches.
	Select  selector.Rules `yaml:"select"`
	Exclude selector.Rules `yaml:"exclude"`
}

// Process configures the process sensor.
type Process struct {
	// RingBufferBytes is the kernel ring buffer size.
	RingBufferBytes uint32 `yaml:"ring_buffer_bytes"`
	// QueueLength is how many records wait in userspace for the pipeline.
	QueueLength int `yaml:"queue_length"`
	// RedactArgs hides secrets in the command lines vigil writes out
	// (internal/redact).
	RedactArgs bool `yaml:"redact_args"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:9464",
		Process: Process{
			RingBufferBytes: 8 << 20,
			QueueLength:     4096,
			RedactArgs:      true,
		},
		HTTP: HTTP{
			Enabled:           true,
			RingBufferBytes:   16 << 20,
			QueueLength:       8192,
			MaxConnections:    65536,
			HeaderBufferBytes: 16 << 20,
			MaxSeries:         5000,
		},
		Rules: Rules{Builtin: true},
	}
}

// envVar is one VIGIL_* variable and the key it overrides.
type envVar struct {
	name, key string
	set       func(c *Config, v string) error
}

var envVars = []envVar{
	{"VIGIL_LISTEN", "listen", func(c *Config, v string) error { c.Listen = v; return nil }},
	{"VIGIL_PROCESS_RING_BUFFER_BYTES", "process.ring_buffer_bytes", func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		c.Process.RingBufferBytes = uint32(n)
		return err
	}},
	{"VIGIL_PROCESS_QUEUE_LENGTH", "process.queue_length", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		c.Process.QueueLength = n
		return err
	}},
	{"VIGIL_PROCESS_REDACT_ARGS", "process.redact_args", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.Process.RedactArgs = b
		return err
	}},
	{"VIGIL_HTTP_ENABLED", "http.enabled", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.HTTP.Enabled = b
		return err
	}},
	{"VIGIL_HTTP_ROUTES", "http.routes", func(c *Config, v string) error {
		c.HTTP.Routes = nil
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				c.HTTP.Routes = append(c.HTTP.Routes, r)
			}
		}
		return nil
	}},
	{"VIGIL_HTTP_MAX_SERIES", "http.max_series", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		c.HTTP.MaxSeries = n
		return err
	}},
	{"VIGIL_RULES_BUILTIN", "rules.builtin", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.Rules.Builtin = b
		return err
	}},
	{"VIGIL_RULES_FILES", "rules.files", func(c *Config, v string) error {
		c.Rules.Files = nil
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				c.Rules.Files = append(c.Rules.Files, f)
			}
		}
		return nil
	}},
	{"VIGIL_ALERTS_FILE", "alerts.file", func(c *Config, v string) error { c.Alerts.File = v; return nil }},
}

// fileKind names what a file that is not a regular one is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// Load builds the configuration from defaults, the YAML file at path (if
// path is not empty) and the environment (lookup is os.LookupEnv in
// production). The result is not yet validated: apply flags, then Validate.
func Load(path string, lookup func(string) (string, bool)) (Config, error) {
	c := Default()
	if path != "" {
		// A named pipe nobody writes (or a device) would block the start,
		// and SIGTERM with it: only a regular file, opened without waiting.
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
			return c, fmt.Errorf("config %s: %s: the configuration must be a regular file", path, fileKind(fi.Mode()))
		}
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil {
			return c, fmt.Errorf("config: %w", err)
		} else if !fi.Mode().IsRegular() {
			return c, fmt.Errorf("config %s: %s: the configuration must be a regular file", path, fileKind(fi.Mode()))
		}
		if err := decodeYAML(f, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	for _, e := range envVars {
		v, ok := lookup(e.name)
		if !ok {
			continue
		}
		if err := e.set(&c, v); err != nil {
			return c, fmt.Errorf("config: %s (key %s) = %q: %w", e.name, e.key, v, err)
		}
	}
	return c, nil
}

// decodeYAML decodes strictly: unknown keys are errors (yaml.v3 names
// them), and type errors are rewritten to name the key, which yaml.v3 only
// gives as a line number.
func decodeYAML(r io.Reader, c *Config) error {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err = dec.Decode(c)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	keys := map[int]string{}
	keyLines(&root, "", keys)
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		var line int
		if _, scanErr := fmt.Sscanf(m, "line %d:", &line); scanErr == nil && keys[line] != "" {
			msgs[i] = fmt.Sprintf("key %s: %s", keys[line], m)
		}
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// keyLines maps each line that holds a mapping value to its dotted key.
func keyLines(n *yaml.Node, prefix string, out map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			keyLines(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			out[n.Content[i+1].Line] = key
			keyLines(n.Content[i+1], key, out)
		}
	}
}

// Validate checks every value and names the key of the first bad one.
func (c Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config: listen %q: want host:port: %w", c.Listen, err)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("config: listen %q: invalid port %q", c.Listen, port)
	}
	rb := c.Process.RingBufferBytes
	if rb < 4096 || rb > 1<<30 || rb&(rb-1) != 0 {
		return fmt.Errorf("config: process.ring_buffer_bytes %d: want a power of two from 4096 to 1073741824", rb)
	}
	if q := c.Process.QueueLength; q < 1 || q > 1<<20 {
		return fmt.Errorf("config: process.queue_length %d: want 1 to 1048576", q)
	}
	if rb := c.HTTP.RingBufferBytes; rb < 4096 || rb > 1<<30 || rb&(rb-1) != 0 {
		return fmt.Errorf("config: http.ring_buffer_bytes %d: want a power of two from 4096 to 1073741824", rb)
	}
	if q := c.HTTP.QueueLength; q < 1 || q > 1<<20 {
		return fmt.Errorf("config: http.queue_length %d: want 1 to 1048576", q)
	}
	if n := c.HTTP.MaxConnections; n < 16 || n > 1<<22 {
		return fmt.Errorf("config: http.max_connections %d: want 16 to 4194304", n)
	}
	if n := c.HTTP.HeaderBufferBytes; n < 16<<10 || n > 1<<30 {
		return fmt.Errorf("config: http.header_buffer_bytes %d: want 16384 (one header block) to 1073741824", n)
	}
	if n := c.HTTP.MaxSeries; n < 1 || n > 1<<20 {
		return fmt.Errorf("config: http.max_series %d: want 1 to 1048576", n)
	}
	if _, err := route.NewMatcher(c.HTTP.Routes); err != nil {
		return fmt.Errorf("config: http.routes: %w", err)
	}
	if _, err := selector.New(c.HTTP.Select, c.HTTP.Exclude); err != nil {
		return fmt.Errorf("config: http.%w", err)
	}
	for _, f := range c.Rules.Files {
		if strings.TrimSpace(f) == "" {
			return fmt.Errorf("config: rules.files: empty file name")
		}
	}
	switch c.OTLP.Protocol {
	case "", "grpc", "http/protobuf":
	default:
		return fmt.Errorf("config: otlp.protocol %q: want grpc or http/protobuf", c.OTLP.Protocol)
	}
	if e := c.OTLP.Endpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: otlp.endpoint %q: want http://host:port or https://host:port", e)
		}
	}
	return nil
}
