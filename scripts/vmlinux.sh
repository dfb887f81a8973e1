#!/usr/bin/env bash
# Regenerates the kernel type headers the BPF C is compiled against, one per
# architecture vigil builds objects for (bpf2go -target amd64,arm64):
#
#   bpf/headers/vmlinux_x86.h    from this machine's /sys/kernel/btf/vmlinux
#                                (an x86_64 kernel with BTF)
#   bpf/headers/vmlinux_arm64.h  from the BTF inside Debian bookworm's arm64
#                                kernel image, version pinned below
#
# bpf/headers/vmlinux.h picks one by __TARGET_ARCH_* (which bpf2go's -target
# sets). The headers are committed: CI and `go generate ./...` only compile
# against them, and this script is run by hand, when a sensor needs a type
# the headers lack. Regenerating vmlinux_x86.h on another kernel than the
# last one changes it (types gain and lose fields between kernels), and with
# it the objects' BTF: commit the headers and the regenerated objects together.
#
# Why a Debian package for arm64: a vmlinux.h must come from a real kernel's
# BTF, and no arm64 machine is at hand. Debian's arm64 kernel is built with
# CONFIG_DEBUG_INFO_BTF=y and its image carries the .BTF section; the image is
# not an ELF file (a raw arm64 Image, gzip'd in some packages), so the BTF
# blob is found by its header and cut out. Why bookworm's 6.1: it is an old
# kernel vigil supports (5.11+), so compiling against it catches a field that
# only newer kernels have and that the C reads without a CO-RE guard
# (bpf_core_field_exists, ___flavor structs). CO-RE relocates every access at
# load time, so objects built against 6.1's layout load on newer kernels too.
#
# Nothing on the machine changes: apt runs with a private state and cache
# directory and a sources list of its own (no dpkg --add-architecture), and
# apt checks the package against the archive's signed index. The package's
# SHA256 is pinned too, so the header is only ever made from these bytes.
# Point releases replace bookworm's kernel in the mirror: when the pinned
# one is gone, pin the current one (apt-cache policy linux-image-arm64 with
# the options below) and regenerate; snapshot.debian.org keeps the old one.
#
# Needs: bpftool (the header's text depends on its version: Debian 12's 7.1),
# python3, apt-get, dpkg-deb.
#
# Usage: scripts/vmlinux.sh [x86|arm64]...   (default: both)
set -euo pipefail

arm64_package=linux-image-6.1.0-50-arm64-unsigned
arm64_version=6.1.176-1
arm64_sha256=31ba9c41615c6e3a2c5397671ecd169af9822871cf19a6ac711d56b39833bd08
mirror=http://deb.debian.org/debian
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

root=$(cd "$(dirname "$0")/.." && pwd)
headers=$root/bpf/headers

x86() {
  if [ "$(uname -m)" != x86_64 ]; then
    echo "vmlinux.sh: vmlinux_x86.h is made from the running kernel's BTF, and this machine is $(uname -m)" >&2
    exit 1
  fi
  bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$headers/vmlinux_x86.h.tmp"
  mv "$headers/vmlinux_x86.h.tmp" "$headers/vmlinux_x86.h"
  echo "vmlinux.sh: vmlinux_x86.h from $(uname -r)"
}

arm64() {
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" EXIT
  mkdir -p "$tmp/state/lists/partial" "$tmp/cache/archives/partial" "$tmp/dl"
  echo "deb [arch=arm64 signed-by=$keyring] $mirror bookworm main" >"$tmp/sources.list"
  local apt=(
    -o APT::Architecture=arm64 -o APT::Architectures::=arm64
    -o Dir::State="$tmp/state" -o Dir::State::status=/dev/null
    -o Dir::Cache="$tmp/cache"
    -o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o APT::Sandbox::User=root
  )
  apt-get -qq "${apt[@]}" update
  (cd "$tmp/dl" && apt-get -qq "${apt[@]}" download "$arm64_package=$arm64_version")
  local deb=("$tmp"/dl/*.deb)
  echo "$arm64_sha256  ${deb[0]}" | sha256sum --quiet -c - || {
    echo "vmlinux.sh: ${deb[0]##*/} is not the pinned package" >&2
    exit 1
  }
  dpkg-deb --fsys-tarfile "${deb[0]}" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
  local image=("$tmp"/boot/vmlinuz-*)
  # Debian's arm64 vmlinuz is a raw Image, or that Image gzip'd.
  if [ "$(head -c 2 "${image[0]}" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
    gzip -dc "${image[0]}" >"$tmp/Image"
  else
    cp "${image[0]}" "$tmp/Image"
  fi
  python3 - "$tmp/Image" "$tmp/btf" <<'EOF'
# Cut the kernel's BTF out of the Image: a struct btf_header (magic 0xeb9f,
# version 1, flags 0, hdr_len 24, then type_off, type_len, str_off, str_len,
# little-endian u32s) followed by the types and the strings. The blob must
# be the only consistent one: types first, strings right after them.
import struct, sys
data = open(sys.argv[1], 'rb').read()
magic = struct.pack('<HBBI', 0xeB9F, 1, 0, 24)
blobs = []
i = data.find(magic)
while i >= 0:
    type_off, type_len, str_off, str_len = struct.unpack_from('<4I', data, i + 8)
    end = i + 24 + str_off + str_len
    if type_off == 0 and type_len > 0 and str_off == type_len and str_len > 0 and end <= len(data):
        blobs.append(data[i:end])
    i = data.find(magic, i + 1)
if len(blobs) != 1:
    sys.exit(f"vmlinux.sh: {len(blobs)} BTF blobs in the arm64 image, want 1")
open(sys.argv[2], 'wb').write(blobs[0])
EOF
  bpftool btf dump file "$tmp/btf" format c >"$headers/vmlinux_arm64.h.tmp"
  mv "$headers/vmlinux_arm64.h.tmp" "$headers/vmlinux_arm64.h"
  echo "vmlinux.sh: vmlinux_arm64.h from $arm64_package $arm64_version"
}

[ $# -gt 0 ] || set -- x86 arm64
for arch in "$@"; do
  case "$arch" in
    x86) x86 ;;
    arm64) (arm64) ;; # a subshell: its EXIT trap removes its temporary directory
    *) echo "vmlinux.sh: unknown architecture $arch (x86, arm64)" >&2; exit 2 ;;
  esac
done
