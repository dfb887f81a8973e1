/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel's types for the architecture an object is built for: bpf2go's
 * -target amd64,arm64 compiles each object twice, with __TARGET_ARCH_x86 or
 * __TARGET_ARCH_arm64 defined (bpf_tracing.h's register macros need them
 * too). Both headers are dumps of a real kernel's BTF, made by
 * scripts/vmlinux.sh, which says from which kernels. Each has its own
 * __VMLINUX_H__ guard, so this file has none.
 */
#if defined(__TARGET_ARCH_x86)
#include "vmlinux_x86.h"
#elif defined(__TARGET_ARCH_arm64)
#include "vmlinux_arm64.h"
#else
#error "vigil's BPF objects are built for x86 and arm64 only: compile with -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64 (bpf2go -target amd64,arm64)"
#endif
