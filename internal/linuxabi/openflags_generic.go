//go:build !arm64

package linuxabi

// The open(2) flags some architectures define their own way, with
// include/uapi/asm-generic/fcntl.h's values, which x86 uses; arm64's are
// in openflags_arm64.go.
const (
	oDirect    = 040000
	oLargefile = 0100000
	oDirectory = 0200000
	oNofollow  = 0400000
)
