// Package proc is vigil's userspace view of the processes on the node.
//
// Kernel events carry only what is cheap to read in BPF (pid, tid, comm,
// uid/gid, cgroup id, sometimes exe and argv). This package fills in the rest:
// the process's executable, arguments, working directory, container, service
// name and lineage. It has three parts:
//
//   - container.go maps a cgroup path to the container (and Kubernetes pod)
//     it belongs to, for every common runtime and cgroup driver;
//   - procfs.go reads one process, or all of them, from a procfs tree;
//   - table.go keeps a bounded, concurrency-safe process table fed by
//     exec/fork/exit events and seeded from procfs, and answers lookups,
//     lineage and enrichment queries from it.
//
// All procfs access goes through a configurable root directory so tests can
// run against fake trees built in a temporary directory.
package proc
