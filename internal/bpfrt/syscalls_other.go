//go:build !amd64

package bpfrt

// syscallNumbers is empty off x86_64: the BPF programs read x86_64 saved
// registers (bpf/lib/vigil.h), so syscall hooks are not offered here.
var syscallNumbers = map[string]uint32{}
