package proc

import (
	"strings"
	"testing"
)

// cgroupCases are cgroup paths as they appear in /proc/<pid>/cgroup (after
// "0::" or "N:controllers:") on hosts running each runtime and driver.
var cgroupCases = []struct {
	name        string
	path        string
	containerID string
	podUID      string
}{
	// docker
	{"docker cgroupfs",
		"/docker/3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9",
		"3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9", ""},
	{"docker systemd",
		"/system.slice/docker-40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea237.scope",
		"40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea237", ""},
	{"docker systemd inside container (cgroupns, systemd as init)",
		"/system.slice/docker-40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea237.scope/system.slice/nginx.service",
		"40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea237", ""},
	{"docker cgroupfs init.scope below container",
		"/docker/3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9/init.scope",
		"3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9", ""},
	{"docker-in-docker cgroupfs: innermost wins",
		"/docker/3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9/docker/0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f",
		"0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f", ""},
	{"docker-in-docker systemd: innermost wins",
		"/system.slice/docker-40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea237.scope/system.slice/docker-90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901.scope",
		"90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901", ""},
	{"GitHub Actions job container (docker --cgroup-parent)",
		"/actions_job/5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78",
		"5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78", ""},
	{"ECS task",
		"/ecs/8f7c2c3b0b2a4a6e9d2f1e0c5b4a3d2e/5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78",
		"5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78", ""},
	// containerd / Kubernetes
	{"kubepods cgroupfs burstable",
		"/kubepods/burstable/podc561d365-bdec-4005-b70e-84b5b2dc23a5/0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f",
		"0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f", "c561d365-bdec-4005-b70e-84b5b2dc23a5"},
	{"kubepods cgroupfs guaranteed",
		"/kubepods/pode0565848-7d3b-47dd-86e3-f7f6243ac1b5/90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901",
		"90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901", "e0565848-7d3b-47dd-86e3-f7f6243ac1b5"},
	{"kubepods systemd burstable containerd",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podc561d365_bdec_4005_b70e_84b5b2dc23a5.slice/cri-containerd-0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f.scope",
		"0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f", "c561d365-bdec-4005-b70e-84b5b2dc23a5"},
	{"kubepods systemd besteffort containerd",
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podbb48bb02_bf6f_4d26_b905_4fd219c35d2d.slice/cri-containerd-5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78.scope",
		"5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78", "bb48bb02-bf6f-4d26-b905-4fd219c35d2d"},
	{"kubepods systemd guaranteed containerd",
		"/kubepods.slice/kubepods-pode0565848_7d3b_47dd_86e3_f7f6243ac1b5.slice/cri-containerd-3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9.scope",
		"3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9", "e0565848-7d3b-47dd-86e3-f7f6243ac1b5"},
	{"containerd cgroupfs with systemd-style cgroupsPath",
		"/system.slice/containerd.service/kubepods-burstable-podc561d365_bdec_4005_b70e_84b5b2dc23a5.slice:cri-containerd:0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f",
		"0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f", "c561d365-bdec-4005-b70e-84b5b2dc23a5"},
	{"kubepods systemd static pod (config hash uid)",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8f3e7c5a9b1d4e2f6a0c8b7d5e3f1a9c.slice/cri-containerd-3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9.scope",
		"3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9", "8f3e7c5a9b1d4e2f6a0c8b7d5e3f1a9c"},
	{"kind node: pod inside a docker container",
		"/system.slice/docker-40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea237.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-podbb48bb02_bf6f_4d26_b905_4fd219c35d2d.slice/cri-containerd-5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78.scope",
		"5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78", "bb48bb02-bf6f-4d26-b905-4fd219c35d2d"},
	{"kind node: node's own containerd",
		"/system.slice/docker-40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea237.scope/system.slice/containerd.service",
		"40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea237", ""},
	{"nerdctl systemd",
		"/system.slice/nerdctl-90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901.scope",
		"90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901", ""},
	// CRI-O
	{"cri-o systemd",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podc561d365_bdec_4005_b70e_84b5b2dc23a5.slice/crio-90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901.scope",
		"90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901", "c561d365-bdec-4005-b70e-84b5b2dc23a5"},
	{"cri-o cgroupfs",
		"/kubepods/besteffort/podbb48bb02-bf6f-4d26-b905-4fd219c35d2d/crio-90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901",
		"90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901", "bb48bb02-bf6f-4d26-b905-4fd219c35d2d"},
	{"cri-o conmon in pod slice is not the container",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podc561d365_bdec_4005_b70e_84b5b2dc23a5.slice/crio-conmon-90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901.scope",
		"", "c561d365-bdec-4005-b70e-84b5b2dc23a5"},
	{"cri-o conmon in system.slice",
		"/system.slice/crio-conmon-90954deb15e7ce215cd02c174271e084f1e08c55eaa34a2f4d5c51bef2f15901.scope",
		"", ""},
	// podman
	{"podman rootful",
		"/machine.slice/libpod-5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78.scope",
		"5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78", ""},
	{"podman with container sub-cgroup",
		"/machine.slice/libpod-5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78.scope/container",
		"5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78", ""},
	{"podman pod",
		"/machine.slice/machine-libpod_pod_0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f.slice/libpod-5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78.scope/container",
		"5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78", ""},
	{"podman rootless",
		"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9.scope",
		"3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9", ""},
	{"podman conmon",
		"/machine.slice/libpod-conmon-5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78.scope",
		"", ""},
	{"podman conmon inside a docker container takes the outer id",
		"/docker/3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9/machine.slice/libpod-conmon-5135bdd40d6633520c1753162e6548ddc44e0345a30e92792d3d8ef208c01a78.scope",
		"3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9", ""},
	// not containers
	{"systemd user session", "/user.slice/user-1000.slice/session-2.scope", "", ""},
	{"root", "/", "", ""},
	{"empty", "", "", ""},
	{"init", "/init.scope", "", ""},
	{"docker daemon itself", "/system.slice/docker.service", "", ""},
	{"pod slice without container", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podc561d365_bdec_4005_b70e_84b5b2dc23a5.slice",
		"", "c561d365-bdec-4005-b70e-84b5b2dc23a5"},
	{"32-hex v1 path on this CI host", "/process_api/240b10ee1ce0fadd6a03731fedfdcefb", "", ""},
	{"63 hex", "/docker/3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea", "", ""},
	{"65 hex", "/docker/3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9a", "", ""},
	{"63 hex in scope", "/system.slice/docker-40cfb1471c9c7a6e3ae9b493abbb01f0548a9e12d7b3b2f4d0fafd3373fea23.scope", "", ""},
	{"uppercase hex", "/docker/3355347D26F18102DEE0CA165E8FB6F98CBC44DB099A5FCFDD1D029CE423EEA9", "", ""},
	{"64 chars not hex", "/docker/3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eeg9", "", ""},
	{"unknown prefix", "/system.slice/foo-3355347d26f18102dee0ca165e8fb6f98cbc44db099a5fcfdd1d029ce423eea9.scope", "", ""},
	{"pod uid wrong length", "/kubepods/burstable/podc561d365-bdec-4005-b70e-84b5b2dc23a/x", "", ""},
	{"pod uid misplaced dash", "/kubepods/burstable/podc561d365b-dec-4005-b70e-84b5b2dc23a5/x", "", ""},
}

func TestContainerID(t *testing.T) {
	for _, tc := range cgroupCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ContainerID(tc.path); got != tc.containerID {
				t.Errorf("ContainerID(%q) = %q, want %q", tc.path, got, tc.containerID)
			}
			if got := PodUID(tc.path); got != tc.podUID {
				t.Errorf("PodUID(%q) = %q, want %q", tc.path, got, tc.podUID)
			}
		})
	}
}

func TestContainerIDDoesNotAllocate(t *testing.T) {
	const path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podc561d365_bdec_4005_b70e_84b5b2dc23a5.slice/cri-containerd-0c575792f7013fe077d2368bc2f27079006c26d5afe101b58b0e2c36fecef86f.scope"
	if n := testing.AllocsPerRun(100, func() { _ = ContainerID(path) }); n != 0 {
		t.Errorf("ContainerID allocates %v times per call", n)
	}
}

func FuzzContainerID(f *testing.F) {
	for _, tc := range cgroupCases {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, path string) {
		id := ContainerID(path)
		if id != "" {
			if len(id) != containerIDLen || !isLowerHex(id) {
				t.Fatalf("ContainerID(%q) = %q: not 64 lowercase hex", path, id)
			}
			if !strings.Contains(path, id) {
				t.Fatalf("ContainerID(%q) = %q: not taken from the path", path, id)
			}
		}
		if uid := PodUID(path); uid != "" && len(uid) != 36 && len(uid) != 32 {
			t.Fatalf("PodUID(%q) = %q: not a UID", path, uid)
		}
	})
}
