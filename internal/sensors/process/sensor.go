// Package process is the process lifecycle sensor: exec, fork and exit
// events from the sched tracepoints, decoded into vigil events.
package process

import (
	"fmt"

	"github.com/vigil-dev/vigil/internal/bpfpolicy"
	"github.com/vigil-dev/vigil/internal/bpfrt"
)

// Source is the sensor's name in metrics (`source` label).
const Source = "process"

// Options configure the sensor.
type Options struct {
	// ExcludeSelf drops events of the calling process in the kernel.
	ExcludeSelf bool
	// Self is this process as the kernel knows it (bpfrt.SelfTGID); 0:
	// the sensor asks the kernel.
	Self uint32
	// Ring is where the sensor writes its records.
	Ring *bpfrt.Ring
	// Policy is the rule policy: exec decides each process's standing with
	// the rules (kept for the other sensors) and enforces exec rules. Nil:
	// no rules.
	Policy *bpfpolicy.Kernel
}

// hooks is the sensor's attach table.
var hooks = []bpfrt.Hook{
	{Program: "handle_exec", Kind: bpfrt.RawTracepoint, Name: "sched_process_exec"},
	{Program: "handle_fork", Kind: bpfrt.RawTracepoint, Name: "sched_process_fork"},
	{Program: "handle_exit", Kind: bpfrt.RawTracepoint, Name: "sched_process_exit"},
}

// Sensor is the loaded and attached process sensor.
type Sensor struct {
	*bpfrt.Sensor
}

// New loads and attaches the sensor. The caller must Close it.
func New(opts Options) (*Sensor, error) {
	return newSensor(opts, false)
}

// newSensor is New; exitByLiveCount selects the exit detection of kernels
// before 6.16, which the tests run on newer kernels too.
func newSensor(opts Options, exitByLiveCount bool) (*Sensor, error) {
	spec, err := loadProcess()
	if err != nil {
		return nil, fmt.Errorf("process sensor: %w", err)
	}
	// Without rules the policy maps are never used: keep them small.
	load := bpfrt.LoadOptions{Constants: map[string]any{}, MapSizes: map[string]uint32{"procs": 1}}
	if opts.Policy != nil {
		load = opts.Policy.LoadOptions()
	}
	load.Constants["exit_by_live_count"] = bpfrt.Bool(exitByLiveCount)
	s, err := bpfrt.StartSensor(bpfrt.SensorSpec{
		Name:        Source,
		Spec:        spec,
		Load:        load,
		Hooks:       hooks,
		Ring:        opts.Ring,
		Records:     []bpfrt.RecordType{bpfrt.RecordExec, bpfrt.RecordFork, bpfrt.RecordExit},
		ExcludeSelf: opts.ExcludeSelf,
		Self:        opts.Self,
	})
	if err != nil {
		return nil, err
	}
	return &Sensor{s}, nil
}
