package linuxabi

// The open(2) flags whose values arm64 defines its own way
// (arch/arm64/include/uapi/asm/fcntl.h): an arm64 O_DIRECTORY is
// asm-generic's O_DIRECT, so events and rules must use these there.
const (
	oDirectory = 040000
	oNofollow  = 0100000
	oDirect    = 0200000
	oLargefile = 0400000
)
