package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/vigil-dev/vigil/internal/agent"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/event"
	"github.com/vigil-dev/vigil/internal/export"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/policy"
	"github.com/vigil-dev/vigil/internal/route"
	"github.com/vigil-dev/vigil/internal/selector"
	"github.com/vigil-dev/vigil/internal/selfmetrics"
	"github.com/vigil-dev/vigil/internal/sensors/sockdata"
)

func newRunCmd() *cobra.Command {
	var (
		configPath, listen, cpuProfile, alertsFile string
		ruleFiles                                  []string
		noDefaultRules                             bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent: sensors, pipeline and the /metrics endpoint",
		Long: `Run the agent. With no configuration it observes every process on the node
except itself, serves /metrics, /healthz and /readyz on 127.0.0.1:9464, and
applies the built-in detection rules, writing alerts as JSON lines to stdout
(or --alerts-file). With OTEL_EXPORTER_OTLP_ENDPOINT set it also sends spans
over OTLP.

Configuration comes from --config FILE (YAML), then VIGIL_* environment
variables, then flags; docs/configuration.md lists every key. vigil runs its
Go code on one OS thread at a time unless GOMAXPROCS is set.

SIGINT and SIGTERM stop it, also while it starts, within 2 s. SIGHUP does
not reload anything: it is logged and ignored, and a change to rules or
configuration takes a restart. An output that goes away (a stdout whose
reader exited) never stops the agent: the alerts it cannot write are
counted in vigil_events_dropped_total{stage="alerts"} and logged once, and
detection and enforcement go on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			surviveBrokenPipes()
			cfg, err := config.Load(configPath, os.LookupEnv)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("listen") {
				cfg.Listen = listen
			}
			cfg.Rules.Files = append(cfg.Rules.Files, ruleFiles...)
			if noDefaultRules {
				cfg.Rules.Builtin = false
			}
			if cmd.Flags().Changed("alerts-file") {
				cfg.Alerts.File = alertsFile
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			// The OpenTelemetry clients read their settings from the
			// environment: the otlp section fills what it leaves unset.
			for k, v := range cfg.OTLP.Environment(os.LookupEnv) {
				if err := os.Setenv(k, v); err != nil {
					return fmt.Errorf("config: otlp: %w", err)
				}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			return runAgent(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "YAML configuration file")
	cmd.Flags().StringVar(&listen, "listen", config.Default().Listen, "address for /metrics, /healthz and /readyz")
	cmd.Flags().StringArrayVar(&ruleFiles, "rules", nil, "rule file to load after the built-in rules (repeatable)")
	cmd.Flags().BoolVar(&noDefaultRules, "no-default-rules", false, "do not load the built-in rules")
	cmd.Flags().StringVar(&alertsFile, "alerts-file", "", "append alerts as JSON lines to this file instead of stdout")
	// For benchmarks and bug reports, not for production.
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file")
	cmd.Flags().MarkHidden("cpuprofile")
	return cmd
}

// httpOptions turns the http config section into agent options.
func httpOptions(c config.HTTP) (*agent.HTTPOptions, error) {
	routes, err := route.NewMatcher(c.Routes)
	if err != nil {
		return nil, fmt.Errorf("config: http.routes: %w", err)
	}
	sel, err := selector.New(c.Select, c.Exclude)
	if err != nil {
		return nil, fmt.Errorf("config: http.%w", err)
	}
	return &agent.HTTPOptions{
		Sensor:      sockdata.Options{MaxConns: uint32(c.MaxConnections)},
		Ring:        agent.RingOptions{Bytes: c.RingBufferBytes, QueueLen: c.QueueLength},
		Metrics:     metrics.HTTPOptions{MaxSeries: c.MaxSeries},
		Routes:      routes,
		MaxConns:    c.MaxConnections,
		HeaderBytes: c.HeaderBufferBytes,
		Selector:    sel,
	}, nil
}

// loadRules loads and compiles the rules the configuration names; nil when
// there are none.
func loadRules(c config.Rules) (*policy.Program, error) {
	rules, err := policy.Load(c.Files, c.Builtin)
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return nil, nil
	}
	return policy.Compile(rules)
}

// alertQueue bounds the alerts waiting to be written out.
const alertQueue = 8192

// alertSink writes alerts, and only alerts, as JSON lines to the alerts
// file (appended) or to stdout, from a goroutine of its own: a stdout
// nobody reads must not stall the agent, nor its exit. The close function
// flushes what is queued until ctx ends, then closes the file.
func alertSink(path string, redactArgs bool, stdout io.Writer) (*export.QueuedWriter, func(context.Context) error, error) {
	out, closeOut := stdout, func() error { return nil }
	if path != "" && path != "-" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("alerts file: %w", err)
		}
		out, closeOut = f, f.Close
	}
	encode := export.JSONLine
	if redactArgs {
		encode = export.Redacted(encode)
	}
	w := export.NewQueuedWriter(out, alertQueue, func(ev *event.Event) bool { return ev.Kind == event.KindAlert }, encode)
	return w, func(ctx context.Context) error {
		return errors.Join(w.Close(ctx), closeOut())
	}, nil
}

// stopBudget is how long vigil gives itself from SIGTERM to exit: the 2 s
// the CLI contract promises, less a margin for the process's own exit.
const stopBudget = 1800 * time.Millisecond

// shutdown hands the steps of the shutdown their contexts, so that together
// they cannot outlast stopBudget: whatever is still unwritten then (alerts
// to a reader that stopped reading, spans to a receiver that hangs) is
// counted and logged, not waited for.
type shutdown struct {
	once     sync.Once
	deadline time.Time
}

// begin starts the budget; later calls do nothing.
func (s *shutdown) begin() {
	s.once.Do(func() { s.deadline = time.Now().Add(stopBudget) })
}

// step returns the context of one step: it ends after at most limit, and
// no later than the budget. A step taken before begin starts the budget.
func (s *shutdown) step(limit time.Duration) (context.Context, context.CancelFunc) {
	s.begin()
	d := time.Now().Add(limit)
	if s.deadline.Before(d) {
		d = s.deadline
	}
	return context.WithDeadline(context.Background(), d)
}

// oneProc runs the agent's Go code on one OS thread at a time unless the
// GOMAXPROCS environment variable says otherwise. The pipeline is one
// goroutine by design (events stay in order), so more Ps than one mostly
// spin and hand goroutines across threads: in an exec storm here, one P
// halved vigil's context switches and cut its CPU by 30 %, with the same
// HTTP throughput and no loss under wrk (bench/NOTES.md, "one P"). A node
// whose event rate needs the garbage collector on another core sets
// GOMAXPROCS.
func oneProc(log *slog.Logger) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return
	}
	runtime.GOMAXPROCS(1)
	log.Debug("GOMAXPROCS is 1: set the GOMAXPROCS environment variable for more")
}

// ignoreHangups logs and ignores SIGHUP until the returned function is
// called. Rules and policy are compiled into the kernel programs at load
// (the process sensor takes the policy's constants), so reloading them
// means starting the kernel side anew: for now a change takes a restart.
// A vigil started with SIGHUP ignored (nohup) keeps ignoring it.
func ignoreHangups(log *slog.Logger) (stop func()) {
	if signal.Ignored(syscall.SIGHUP) {
		return func() {}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP ignored: vigil does not reload rules or configuration; restart it to apply changes")
			case <-done:
				return
			}
		}
	}()
	// Not signal.Stop: a SIGHUP during the rest of the shutdown would kill
	// vigil before it flushed. The handler stays; the goroutine ends.
	return func() { close(done) }
}

func runAgent(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	log := slog.Default()
	oneProc(log)
	defer ignoreHangups(log)()
	var stopping shutdown
	context.AfterFunc(ctx, stopping.begin)

	// Bind first: a busy port or a bad address is an error at once, not
	// after seconds of loading programs. /healthz answers from here on,
	// /readyz says 503 and /metrics 503 until the agent runs.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	var (
		running  atomic.Pointer[agent.Agent]
		metricsH atomic.Pointer[http.Handler]
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		h := metricsH.Load()
		if h == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if a := running.Load(); a == nil || !a.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	// Shut down once the agent stops (below), before its outputs and kernel
	// objects are closed; or on the way out of a failed start.
	shutdownHTTP := sync.OnceFunc(func() {
		c, cancel := stopping.step(500 * time.Millisecond)
		defer cancel()
		if err := srv.Shutdown(c); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("http server shutdown", "error", err)
		}
	})
	defer shutdownHTTP()

	opts := agent.Options{
		Logger:      log,
		ExcludeSelf: true,
		ProcessRing: agent.RingOptions{Bytes: cfg.Process.RingBufferBytes, QueueLen: cfg.Process.QueueLength},
		SelfMetrics: selfmetrics.New(log),
	}
	prog, err := loadRules(cfg.Rules)
	if err != nil {
		return err
	}
	var alerts *export.QueuedWriter
	if prog != nil {
		var closeAlerts func(context.Context) error
		alerts, closeAlerts, err = alertSink(cfg.Alerts.File, cfg.Process.RedactArgs, stdout)
		if err != nil {
			return err
		}
		defer func() {
			// The last step: it has what is left of the budget.
			c, cancel := stopping.step(stopBudget)
			defer cancel()
			if err := closeAlerts(c); err != nil {
				log.Warn("closing the alert output", "error", err)
			}
		}()
		opts.Security = &agent.SecurityOptions{Program: prog}
		opts.Sinks = append(opts.Sinks, alerts)
		opts.SelfMetrics.Add(selfmetrics.Dropped, alerts.Dropped, "alerts")
		// An alert output that is gone (stdout's reader exited) is said
		// once; detection, enforcement and /metrics go on without it.
		watching := make(chan struct{})
		defer close(watching)
		go func() {
			select {
			case <-alerts.Failed():
				log.Error(`the alert output failed: no alert is written from now on; each is counted in vigil_events_dropped_total{stage="alerts"}; detection and enforcement go on`, "error", alerts.Err())
			case <-watching:
			}
		}()
		log.Info("detection rules loaded", "rules", len(prog.Rules))
	}
	if cfg.HTTP.Enabled {
		h, err := httpOptions(cfg.HTTP)
		if err != nil {
			return err
		}
		opts.HTTP = h
	}
	var spans *export.OTLPTraces
	if cfg.HTTP.Enabled && export.OTLPTraceEnabled(os.LookupEnv) {
		protocol, err := export.OTLPProtocol(os.LookupEnv, export.SignalTraces)
		if err != nil {
			return err
		}
		timeout, err := export.OTLPTimeout(os.LookupEnv)
		if err != nil {
			return err
		}
		spans, err = export.NewOTLPTraces(ctx, export.OTLPTraceOptions{Protocol: protocol, Timeout: timeout, Logger: log})
		if err != nil {
			return err
		}
		defer func() {
			// Part of the 2 s SIGTERM budget: what cannot be sent in
			// time is lost, and logged.
			c, cancel := stopping.step(400 * time.Millisecond)
			defer cancel()
			if err := spans.Close(c); err != nil {
				log.Warn("closing OTLP trace exporter", "error", err)
			}
		}()
		opts.Sinks = append(opts.Sinks, spans)
		log.Info("exporting spans over OTLP", "protocol", protocol)
	}
	a, err := agent.NewContext(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("vigil stopped while starting")
			return nil
		}
		return err
	}
	defer a.Close()
	if alerts != nil {
		defer func() {
			// A failed write was logged when it happened.
			if err := alerts.Err(); err != nil && !alerts.WriteFailed() {
				log.Warn("writing alerts", "error", err)
			}
		}()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(a.Collectors()...)
	if spans != nil {
		reg.MustRegister(spans)
	}
	if export.OTLPMetricsEnabled(os.LookupEnv) {
		protocol, err := export.OTLPProtocol(os.LookupEnv, export.SignalMetrics)
		if err != nil {
			return err
		}
		pushed, err := export.NewOTLPMetrics(ctx, protocol, reg)
		if err != nil {
			return err
		}
		defer func() {
			c, cancel := stopping.step(300 * time.Millisecond)
			defer cancel()
			if err := pushed.Close(c); err != nil {
				log.Warn("closing OTLP metric exporter", "error", err)
			}
		}()
		log.Info("exporting metrics over OTLP", "protocol", protocol)
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	var h http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})
	metricsH.Store(&h)
	running.Store(a)
	log.Info("vigil running", "listen", ln.Addr().String())

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(runCtx) }()

	select {
	case err = <-runErr:
	case err = <-srvErr:
		err = fmt.Errorf("http server: %w", err)
		stop()
		<-runErr // the agent detaches before its kernel objects are closed
	}
	shutdownHTTP()
	if err != nil {
		return err
	}
	log.Info("vigil stopped")
	return nil
}
