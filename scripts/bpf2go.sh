#!/usr/bin/env bash
# Every go:generate line runs this instead of bpf2go itself, from its
# package directory, with bpf2go's arguments. It compiles a copy of the
# package's C and of bpf/ at one fixed path and writes the generated files
# back into the package.
#
# Why a fixed path: clang-19's BTF emitter orders the forward declarations
# it emits by pointer value (LLVM 19's BTFDebug keeps FixupDerivedTypes in a
# std::map keyed by DICompositeType*), and where those objects land on the
# heap shifts with the length of the source's absolute path. The same commit
# checked out at /work/main and at /tmp/x gave two dispatch objects with
# cfs_rq and rt_rq swapped, so CI's "regenerate, then diff" step failed on a
# clean checkout while it passed in the author's tree. Built at one path, the
# objects depend on the sources and the compiler alone. Nothing of the path
# reaches them: bpf2go strips DWARF and BTF line info names files relatively.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pkg=$(pwd)
case "$pkg" in
  "$root"/*) rel=${pkg#"$root"/} ;;
  *) echo "bpf2go.sh: run from a package directory below $root, not $pkg" >&2; exit 1 ;;
esac

# Fixed on purpose; see above. Not $TMPDIR, which differs between machines.
build=/tmp/vigil-bpf2go
tool=$(cd "$root" && go tool -n bpf2go)

# Two `go generate` runs at once (a developer and a test helper) must not
# share the directory mid-build.
exec 9>"$build.lock"
flock 9

rm -rf "$build"
mkdir -p "$build/$rel"
cp -R "$root/bpf" "$build/bpf"
shopt -s nullglob
sources=("$pkg"/*.c "$pkg"/*.h)
if [ ${#sources[@]} -eq 0 ]; then
  echo "bpf2go.sh: no C sources in $pkg" >&2
  exit 1
fi
cp "${sources[@]}" "$build/$rel/"

status=0
(cd "$build/$rel" && "$tool" -output-dir "$pkg" "$@") || status=$?
rm -rf "$build"
exit "$status"
