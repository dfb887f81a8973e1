package proc

import "strings"

// containerIDLen is the length of the container ids docker, containerd,
// CRI-O and podman generate: 32 random bytes, hex encoded.
const containerIDLen = 64

// ContainerID returns the id of the container a cgroup path (as it appears in
// /proc/<pid>/cgroup, without the "hierarchy:controllers:" prefix) belongs
// to, or "" when the path is not a container's.
//
// It recognises, in any cgroup driver and nesting:
//
//	/docker/<id>                                      docker, cgroupfs driver
//	/system.slice/docker-<id>.scope                   docker, systemd driver
//	/system.slice/nerdctl-<id>.scope                  nerdctl, systemd driver
//	/kubepods/burstable/pod<uid>/<id>                 kubelet, cgroupfs driver
//	/kubepods/besteffort/pod<uid>/crio-<id>           CRI-O, cgroupfs driver
//	.../kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope
//	.../kubepods-burstable-pod<uid>.slice/crio-<id>.scope
//	/system.slice/containerd.service/kubepods-...-pod<uid>.slice:cri-containerd:<id>
//	/machine.slice/libpod-<id>.scope[/container]      podman (rootful or rootless)
//
// Nested containers (docker-in-docker, kind nodes running pods, systemd
// inside a container) yield the innermost id: that is the container whose
// runtime created the process's sandbox and the one Kubernetes metadata
// refers to; the outer id is the node's or the CI runner's.
//
// Conmon scopes (crio-conmon-<id>.scope, libpod-conmon-<id>.scope) are
// rejected on purpose: conmon is the runtime's monitor process, running on
// the host outside the container's namespaces, and attributing its activity
// to the container would make rules such as "shell spawned in a container"
// fire on runtime housekeeping. The scan then continues with the outer
// components, so conmon inside an outer container still gets that id.
//
// Only 64-character lowercase hex ids are accepted: that rules out systemd
// session and service names and 32-hex ids such as pod hashes.
//
// The result is a substring of cgroupPath; ContainerID does not allocate.
func ContainerID(cgroupPath string) string {
	return innermost(cgroupPath, containerIDFromComponent)
}

// innermost applies match to the components of a cgroup path from the
// innermost outwards and returns the first non-empty result.
func innermost(cgroupPath string, match func(component string) string) string {
	rest := cgroupPath
	for rest != "" {
		var comp string
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			comp, rest = rest[i+1:], rest[:i]
		} else {
			comp, rest = rest, ""
		}
		if v := match(comp); v != "" {
			return v
		}
	}
	return ""
}

// containerIDFromComponent returns the container id named by one cgroup
// directory name, or "".
func containerIDFromComponent(c string) string {
	c = strings.TrimSuffix(c, ".scope")
	// containerd's CRI plugin with the cgroupfs driver but a systemd-style
	// cgroupsPath ("slice:prefix:name", kubelet and containerd disagreeing on
	// the driver) creates the literal directory
	// "kubepods-...-pod<uid>.slice:cri-containerd:<id>".
	if i := strings.LastIndexByte(c, ':'); i >= 0 {
		c = c[i+1:]
	}
	if isContainerID(c) {
		return c
	}
	// Each runtime names its systemd scope (or, for CRI-O with cgroupfs, its
	// directory) "<prefix><id>". The conmon scopes "crio-conmon-<id>" and
	// "libpod-conmon-<id>" match the crio-/libpod- prefixes but fail the id
	// check below, which is what we want (see ContainerID).
	for _, prefix := range [...]string{"docker-", "cri-containerd-", "crio-", "libpod-", "nerdctl-"} {
		if id, ok := strings.CutPrefix(c, prefix); ok {
			if isContainerID(id) {
				return id
			}
			return ""
		}
	}
	return ""
}

// isContainerID reports whether s is a 64-character lowercase hex string.
func isContainerID(s string) bool {
	return len(s) == containerIDLen && isLowerHex(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// PodUID returns the UID of the Kubernetes pod a cgroup path belongs to, or
// "" when it is not a pod's. The kubelet's cgroupfs driver names the pod
// directory "pod<uid>"; its systemd driver names it
// "kubepods[-<qos>]-pod<uid>.slice" with the dashes of the UID turned into
// underscores (systemd reserves '-' for slice nesting), which PodUID turns
// back into dashes. Kind and other nested setups prefix the slices with
// "kubelet-"; the innermost pod wins, as in ContainerID.
//
// Besides API-server UIDs (RFC 4122 form) it accepts the 32-hex-character
// config hash the kubelet uses as the UID of static pods; the mirror pod the
// API server shows for a static pod has its own UID and carries that hash in
// its kubernetes.io/config.hash annotation.
func PodUID(cgroupPath string) string {
	return innermost(cgroupPath, podUIDFromComponent)
}

func podUIDFromComponent(c string) string {
	// Strip the ":cri-containerd:<id>" tail of the mismatched-driver layout
	// (see containerIDFromComponent).
	if i := strings.IndexByte(c, ':'); i >= 0 {
		c = c[:i]
	}
	if slice, ok := strings.CutSuffix(c, ".slice"); ok {
		// systemd: "kubepods-burstable-pod<uid_with_underscores>". The UID
		// itself has no dashes here, so the last dash starts the pod part.
		if i := strings.LastIndexByte(slice, '-'); i >= 0 {
			slice = slice[i+1:]
		}
		if uid, ok := strings.CutPrefix(slice, "pod"); ok && isPodUID(uid, '_') {
			return strings.ReplaceAll(uid, "_", "-")
		}
		return ""
	}
	if uid, ok := strings.CutPrefix(c, "pod"); ok && isPodUID(uid, '-') {
		return uid
	}
	return ""
}

// isPodUID reports whether s is a lowercase RFC 4122 UUID whose group
// separators are sep, or a 32-character lowercase hex static pod hash.
func isPodUID(s string, sep byte) bool {
	if len(s) == 32 {
		return isLowerHex(s)
	}
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != sep {
				return false
			}
		default:
			if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
