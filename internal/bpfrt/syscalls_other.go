//go:build !amd64 && !arm64

package bpfrt

// vigil builds its BPF objects for amd64 and arm64 only (bpf2go -target
// amd64,arm64 in every gen.go): the programs read those architectures'
// saved syscall registers, and syscallNumbers are their tables. Elsewhere
// (386 included, whose unix.SYS_* are the i386 table's, not the 64-bit
// kernel's) the package does not build, on purpose, with this error
// rather than a sensor's "undefined: load...":
var _ = vigil_builds_only_for_amd64_and_arm64
