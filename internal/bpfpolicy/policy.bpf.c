//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * No programs: this object only declares the policy maps of policy.h, so
 * that one package creates them and hands them to every sensor, and bpf2go
 * has one place to generate the Go types shared with C.
 */
#include "vigil.h"
#include "policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
