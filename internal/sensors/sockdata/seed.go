package sockdata

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// seedHunt is how many syscalls a seeded connection may carry before one
// starts an HTTP request (it may be mid-message when vigil starts).
const seedHunt = 64

// seedIDBase keeps ids of seeded connections apart from the kernel's
// counter, which starts at 1.
const seedIDBase = 1 << 62

// tcpSocket is one line of /proc/<pid>/net/tcp{,6}.
type tcpSocket struct {
	local, peer netip.AddrPort
	state       uint8
}

const (
	tcpEstablished = 0x01
	tcpListen      = 0x0A
)

// Seed tracks the TCP connections processes already had when the sensor
// started, so keep-alive connections opened before vigil are not missed.
// Call it after New and after marking processes and ports (connections
// accepted meanwhile are tracked by the kernel and not overwritten). want
// applies the selection as the kernel would: the process, and the local
// port of servers or the peer port of clients. It returns how many it
// added.
func (s *Sensor) Seed(procRoot string, want func(pid uint32, port uint16) bool) (int, error) {
	conns := s.Coll.Maps["conns"]
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, fmt.Errorf("seed connections: %w", err)
	}
	// Sockets and listening ports per network namespace, read once each.
	type netns struct {
		socks  map[uint64]tcpSocket
		listen map[uint16]bool
	}
	namespaces := map[string]*netns{}
	var (
		added  int
		nextID uint64 = seedIDBase
		errs   []error
	)
	for _, e := range entries {
		pid64, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		pidDir := filepath.Join(procRoot, e.Name())
		nsID, err := os.Readlink(filepath.Join(pidDir, "ns", "net"))
		if err != nil {
			continue // gone, or a kernel thread
		}
		ns, ok := namespaces[nsID]
		if !ok {
			ns = &netns{socks: map[uint64]tcpSocket{}, listen: map[uint16]bool{}}
			for _, f := range []string{"tcp", "tcp6"} {
				if err := readTCPTable(filepath.Join(pidDir, "net", f), ns.socks); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
			for _, sk := range ns.socks {
				if sk.state == tcpListen {
					ns.listen[sk.local.Port()] = true
				}
			}
			namespaces[nsID] = ns
		}
		fds, err := os.ReadDir(filepath.Join(pidDir, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(pidDir, "fd", fd.Name()))
			if err != nil {
				continue
			}
			inodeStr, ok := strings.CutPrefix(target, "socket:[")
			if !ok {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(inodeStr, "]"), 10, 64)
			if err != nil {
				continue
			}
			sk, ok := ns.socks[inode]
			if !ok || sk.state != tcpEstablished {
				continue
			}
			fdNum, err := strconv.ParseUint(fd.Name(), 10, 32)
			if err != nil {
				continue
			}
			side, port := uint8(sockdataSideSIDE_CLIENT), sk.peer.Port()
			if ns.listen[sk.local.Port()] {
				side, port = uint8(sockdataSideSIDE_SERVER), sk.local.Port()
			}
			if want != nil && !want(uint32(pid64), port) {
				continue
			}
			nextID++
			c := sockdataConn{Id: nextID, Side: side, Hunt: seedHunt, Local: toEndpoint(sk.local), Peer: toEndpoint(sk.peer), Family: 2}
			if !sk.local.Addr().Unmap().Is4() {
				c.Family = 10
			}
			key := sockdataConnKey{Tgid: uint32(pid64), Fd: uint32(fdNum)}
			if err := conns.Update(&key, &c, ebpf.UpdateNoExist); err == nil {
				added++
			} else if !errors.Is(err, ebpf.ErrKeyExist) {
				errs = append(errs, fmt.Errorf("seed connection of pid %d fd %d: %w", pid64, fdNum, err))
			}
		}
	}
	return added, errors.Join(errs...)
}

func toEndpoint(ap netip.AddrPort) sockdataEndpoint {
	var e sockdataEndpoint
	a := ap.Addr().Unmap()
	if a.Is4() {
		b := a.As4()
		copy(e.Addr[:], b[:])
	} else {
		b := a.As16()
		copy(e.Addr[:], b[:])
	}
	e.Port = ap.Port()
	return e
}

// readTCPTable adds the sockets of one /proc/net/tcp{,6} file to socks, by
// inode.
func readTCPTable(path string, socks map[uint64]tcpSocket) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return parseTCPTable(f, socks)
}

func parseTCPTable(r io.Reader, socks map[uint64]tcpSocket) error {
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		local, err1 := parseProcAddr(fields[1])
		peer, err2 := parseProcAddr(fields[2])
		state, err3 := strconv.ParseUint(fields[3], 16, 8)
		inode, err4 := strconv.ParseUint(fields[9], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return fmt.Errorf("parse %q: %w", sc.Text(), err)
		}
		if inode != 0 {
			socks[inode] = tcpSocket{local: local, peer: peer, state: uint8(state)}
		}
	}
	return sc.Err()
}

// parseProcAddr parses "0100007F:1F90": the address as the kernel's 32-bit
// words printed in host (little-endian) order, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q: no port", s)
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q: bad hex", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: bad port", s)
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	var a netip.Addr
	if len(raw) == 4 {
		a = netip.AddrFrom4([4]byte(raw))
	} else {
		a = netip.AddrFrom16([16]byte(raw))
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}
