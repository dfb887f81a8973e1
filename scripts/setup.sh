#!/usr/bin/env bash
# Installs everything vigil's build, BPF regeneration and tests need on a
# Debian/Ubuntu machine that has only Go and gcc. Idempotent: packages that
# are already installed are not fetched again. Run as root.
set -euo pipefail

packages=(
  clang-19 llvm-19 libbpf-dev bpftool # BPF objects: go generate ./...
  iproute2                            # network namespaces and veth in tests
  procps                              # ps/pgrep used by tests
  curl python3 nginx-light nodejs wrk # real servers and clients in tests and benchmarks
  netcat-openbsd socat kmod strace    # real tools the rule scenario tests run
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go modules (including the bpf2go tool) ahead of the first build.
cd "$(dirname "$0")/.."
go mod download
echo "setup: ok"
