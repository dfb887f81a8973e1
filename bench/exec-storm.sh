#!/usr/bin/env bash
# Exec-storm benchmark: how much does vigil slow down a node that does
# nothing but fork+exec, and does it keep up?
#
#   ./bench/exec-storm.sh [rounds] [seconds]     (defaults: 3 rounds of 10 s)
#   ./bench/exec-storm.sh --report bench/results/exec-storm-DATE.json
#                                                 (tables of a stored run)
#
# Every core forks+execs /bin/true as fast as it can (bench/execstorm) for
# `seconds`, once without vigil (A) and once with vigil (B), in these B modes:
#   run     `vigil run` (pipeline + /metrics only; no event output)
#   trace   `vigil trace --json` (full JSON encoding path, written to tmpfs)
#   paused  `vigil run`, SIGSTOPped for the storm and resumed after it: a
#           diagnostic, not a way to run vigil. The BPF programs write into
#           a ring nobody reads, so no consumer is woken; the storm then
#           pays only for the programs themselves, and vigil works off the
#           backlog in one batch afterwards. Comparing it with `run` splits
#           the cost into "kernel-side programs", "waking the consumer" and
#           "per-event userspace work".
# A and B alternate (AB AB AB in rounds 1, 3, ..., BA BA BA in rounds 2,
# 4, ...) so slow drift of the machine (thermal, page cache, neighbours)
# cancels out.
# The project's rule is that benchmarks report ratios measured in one run, not
# absolute times: the storm's rate with vigil over the rate without is the
# number to compare across machines.
#
# Reported per mode: storm rates and their ratio (goal >= 0.95), events/s
# vigil saw, events lost in the kernel (goal 0) and dropped in userspace,
# vigil CPU per 1k events, and the BPF programs' own cost (ns per invocation,
# from kernel.bpf_stats_enabled, which is switched on only around B runs),
# plus cheap evidence of where the cost goes: IRQ-work interrupts per exec
# (the ring buffer wakes its reader through irq_work) and vigil's context
# switches per event.
# Raw results go to bench/results/exec-storm-<date>.json (gitignored).
#
# Needs root (BPF), go, curl, jq and bpftool.
set -euo pipefail

ROUNDS=${1:-3}
SECS=${2:-10}
REPO=$(cd "$(dirname "$0")/.." && pwd)
RESULTS_DIR=$REPO/bench/results
CLK_TCK=$(getconf CLK_TCK)
# How long to wait for vigil to drain its backlog after the storm (seconds),
# and what "drained" means: fewer than 50 new events (run mode) or 32 KiB
# of JSON, roughly 50-100 events (trace mode), per 250 ms.
SETTLE_MAX=15
SETTLE_EVENTS=50
SETTLE_BYTES=32768
MODES=(run trace paused)
# On a shared machine other work competes with the storm and with vigil. A
# pair waits (up to QUIET_MAX s) for the node to be below QUIET_PCT busy
# before it starts, and a pair whose A or B storm saw more than QUIET_PCT
# of the node going to neither the storm nor vigil, or another vigil
# attached during B, is marked noisy and left out of the quiet median. (That
# figure is /proc/stat busy time minus getrusage times: good to a few
# points, so small negative values in the JSON are noise; tables show 0.)
QUIET_PCT=10
QUIET_MAX=120

WORK=""            # temp dir: binaries, logs, per-run JSON
TRACE_OUT=""       # tmpfs file the trace mode writes to
VIGIL_PID=""       # running vigil, if any
STORM_PID=""       # running execstorm, if any
STATS_PREV=""      # kernel.bpf_stats_enabled before we touched it
BUILD_COMMIT=""    # what was built: HEAD ...
BUILD_MODIFIED=""  # ... and the tracked files modified on top of it

log() { printf '%s exec-storm: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# cleanup runs on every exit, including errors and Ctrl-C: nothing we
# started may survive us, and the sysctl must go back to what it was.
cleanup() {
	local rc=$?
	if [[ -n $STORM_PID ]]; then
		kill -KILL "$STORM_PID" 2>/dev/null || true
		wait "$STORM_PID" 2>/dev/null || true
	fi
	if [[ -n $VIGIL_PID ]]; then
		kill -TERM "$VIGIL_PID" 2>/dev/null || true
		kill -CONT "$VIGIL_PID" 2>/dev/null || true # paused mode
		# vigil exits within ~2 s of SIGTERM by design; don't hang on it.
		for _ in $(seq 30); do kill -0 "$VIGIL_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$VIGIL_PID" 2>/dev/null || true
		wait "$VIGIL_PID" 2>/dev/null || true
	fi
	stats_restore
	[[ -n $TRACE_OUT ]] && rm -f "$TRACE_OUT"
	[[ -n $WORK ]] && rm -rf "$WORK"
	exit "$rc"
}

preflight() {
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "rounds must be a positive integer, got '$ROUNDS'"
	[[ $SECS =~ ^[1-9][0-9]*$ ]] || die "seconds must be a positive integer, got '$SECS'"
	[[ $(id -u) == 0 ]] || die "must run as root (vigil loads BPF programs)"
	local c
	for c in go curl jq bpftool sysctl; do
		command -v "$c" >/dev/null || die "$c is required"
	done
	[[ -x /bin/true ]] || die "/bin/true is missing"
}

# build compiles the working tree and notes which commit it was, with the
# files modified on top of it (others may commit while the benchmark runs).
build() {
	log "building vigil and execstorm into $WORK"
	BUILD_COMMIT=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
	BUILD_MODIFIED=$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | awk '{ print $NF }' | paste -sd, -)
	(cd "$REPO" && go build -o "$WORK/vigil" ./cmd/vigil && go build -o "$WORK/execstorm" ./bench/execstorm)
}

# --- kernel BPF statistics -------------------------------------------------
# run_time_ns/run_cnt are only counted while kernel.bpf_stats_enabled=1. It
# adds two clock reads per program run, so it is on only during B runs.

stats_on() {
	[[ -n $STATS_PREV ]] || STATS_PREV=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
}

stats_restore() {
	if [[ -n $STATS_PREV ]]; then
		sysctl -qw kernel.bpf_stats_enabled="$STATS_PREV" || log "warning: could not restore kernel.bpf_stats_enabled=$STATS_PREV"
	fi
}

# bpf_ids PID KIND prints the ids of the BPF programs (KIND=prog) or maps
# (KIND=map) that process PID holds. /proc/PID/fdinfo is used rather than
# `bpftool prog show` because it ties programs to *our* vigil even when
# another vigil (say, a kernel test) is loaded at the same time; link fds
# also carry prog_id, hence the sort -u.
bpf_ids() {
	local pid=$1 kind=$2
	cat /proc/"$pid"/fdinfo/* 2>/dev/null | awk -v k="${kind}_id:" '$1 == k { print $2 }' | sort -un
}

# bpf_progs PID prints {"handle_exec": {"id", "run_cnt", "run_time_ns",
# "recursion_misses"}, ...} for vigil's programs. The counters come from the
# program fds' fdinfo (link fds also name a prog_id but carry no counters,
# hence "has run_cnt"), the names from bpftool.
bpf_progs() {
	local pid=$1 rows id rt rc rm name out="{}"
	rows=$(awk '
		function emit() { if (id != "" && rc != "") print id, rt, rc, rm }
		FNR == 1 { emit(); id = ""; rt = ""; rc = ""; rm = 0 }
		$1 == "prog_id:" { id = $2 }
		$1 == "run_time_ns:" { rt = $2 }
		$1 == "run_cnt:" { rc = $2 }
		$1 == "recursion_misses:" { rm = $2 }
		END { emit() }' /proc/"$pid"/fdinfo/* 2>/dev/null | sort -un)
	while read -r id rt rc rm; do
		[[ -n $id ]] || continue
		name=$(bpftool prog show id "$id" -j | jq -r .name)
		out=$(jq -c --arg n "$name" --argjson id "$id" --argjson rt "$rt" --argjson rc "$rc" --argjson rm "$rm" \
			'. + {($n): {id: $id, run_cnt: $rc, run_time_ns: $rt, recursion_misses: $rm}}' <<<"$out")
	done <<<"$rows"
	echo "$out"
}

# bpf_delta BEFORE AFTER: per-program counter deltas.
bpf_delta() {
	jq -n --argjson a "$1" --argjson b "$2" '
		$b | with_entries(.key as $k | .value |= {
			run_cnt: (.run_cnt - ($a[$k].run_cnt // 0)),
			run_time_ns: (.run_time_ns - ($a[$k].run_time_ns // 0)),
			recursion_misses: (.recursion_misses - ($a[$k].recursion_misses // 0))})'
}

# bpf_lost PID sums vigil's per-CPU `lost` map (records the kernel could
# not put into the full ring buffer). Trace mode has no /metrics, so this
# is where its lost count comes from.
bpf_lost() {
	local pid=$1 id
	for id in $(bpf_ids "$pid" map); do
		if [[ $(bpftool map show id "$id" -j | jq -r .name) == lost ]]; then
			bpftool map dump id "$id" -j | jq '[.[].formatted.values[].value] | add // 0'
			return
		fi
	done
	die "vigil (pid $pid) holds no map named 'lost'"
}

# foreign_progs counts handle_exec programs not owned by our vigil: another
# vigil on the node (say, someone's kernel tests) would add its cost to
# every exec and skew B. Checked before and after each B storm.
foreign_progs() {
	local mine
	mine=$(bpf_ids "$1" prog | jq -R -s '[split("\n")[] | select(length > 0) | tonumber]')
	bpftool prog show -j | jq --argjson mine "$mine" '[.[] | select(.name == "handle_exec" and ((.id | IN($mine[])) | not))] | length'
}

# --- the storm -------------------------------------------------------------

# storm runs execstorm and leaves its JSON line in $WORK/storm.json. It
# runs in the background and is waited for, so that the EXIT trap can kill
# it on Ctrl-C. (Like everything that sets VIGIL_PID or STORM_PID, it must
# not run in a $(...) subshell, or the trap would not know the pid.)
# The node's busy time over the storm is added as node_busy_seconds:
# busy minus the storm's own CPU (minus vigil's, in B) is what neighbours
# took, the noise figure of each run.
storm() {
	local b0 b1
	b0=$(node_busy)
	"$WORK/execstorm" -duration "${SECS}s" >"$WORK/storm.raw" &
	STORM_PID=$!
	wait "$STORM_PID"
	STORM_PID=""
	b1=$(node_busy)
	jq -c --argjson busy "$(jq -n "$b1 - $b0")" '. + {node_busy_seconds: $busy}' "$WORK/storm.raw" >"$WORK/storm.json"
}

# node_busy prints the CPU seconds all CPUs spent not idle since boot.
node_busy() {
	awk -v tck="$CLK_TCK" '$1 == "cpu" { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / tck }' /proc/stat
}

loadavg() { awk '{ print $1 }' /proc/loadavg; }

# wait_quiet waits until the node is less than QUIET_PCT busy over 1 s.
wait_quiet() {
	local t0 b0 b1 pct ncpu
	ncpu=$(nproc)
	t0=$(date +%s)
	while :; do
		b0=$(node_busy)
		sleep 1
		b1=$(node_busy)
		pct=$(jq -n "($b1 - $b0) / $ncpu * 100 | round")
		((pct < QUIET_PCT)) && return
		if (($(date +%s) - t0 > QUIET_MAX)); then
			log "warning: node still ${pct}% busy after ${QUIET_MAX}s; measuring anyway"
			return
		fi
		log "node ${pct}% busy with other work; waiting"
		sleep 4
	done
}

# irq_work prints the node's IRQ-work interrupt count (x86 "IWI", summed
# over CPUs; 0 where the line does not exist). bpf_ringbuf_submit wakes a
# waiting reader through irq_work, so per exec this counts reader wakeups.
irq_work() {
	awk '$1 == "IWI:" { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts
}

# ctx_switches PID sums the voluntary and involuntary context switches of
# all of PID's threads.
ctx_switches() {
	cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

now() { date +%s.%N; }

# --- vigil -------------------------------------------------------------------

# proc_cpu PID prints utime+stime of PID in seconds. Fields are counted
# after the ")" that closes comm, which may itself contain spaces.
proc_cpu() {
	awk -v tck="$CLK_TCK" '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / tck }' /proc/"$1"/stat
}

# start_vigil_run starts `vigil run` on a free loopback port and waits for
# /readyz; it sets VIGIL_PID and VIGIL_ADDR.
start_vigil_run() {
	# Alerts (stdout) are not this benchmark's business.
	"$WORK/vigil" run --listen 127.0.0.1:0 >/dev/null 2>"$WORK/vigil.log" &
	VIGIL_PID=$!
	VIGIL_ADDR=""
	local i
	for i in $(seq 100); do
		kill -0 "$VIGIL_PID" 2>/dev/null || { cat "$WORK/vigil.log" >&2; die "vigil run exited during startup"; }
		VIGIL_ADDR=$(grep -o 'listen=[0-9.:]*' "$WORK/vigil.log" | head -1 | cut -d= -f2 || true)
		if [[ -n $VIGIL_ADDR ]] && curl -fsS --max-time 1 "http://$VIGIL_ADDR/readyz" >/dev/null 2>&1; then
			return
		fi
		sleep 0.1
	done
	cat "$WORK/vigil.log" >&2
	die "vigil run not ready after 10 s"
}

# start_vigil_trace starts `vigil trace --json` writing to a tmpfs file and
# waits for its "tracing" line on stderr, printed once the programs are
# attached (records are buffered in the ring from then on).
start_vigil_trace() {
	: >"$TRACE_OUT"
	# The process kinds only: each exec is then exactly three lines.
	"$WORK/vigil" trace --json --kind exec,fork,exit >"$TRACE_OUT" 2>"$WORK/vigil.log" &
	VIGIL_PID=$!
	local i
	for i in $(seq 100); do
		kill -0 "$VIGIL_PID" 2>/dev/null || { cat "$WORK/vigil.log" >&2; die "vigil trace exited during startup"; }
		grep -q 'tracing' "$WORK/vigil.log" && return
		sleep 0.1
	done
	cat "$WORK/vigil.log" >&2
	die "vigil trace did not start within 10 s"
}

# stop_vigil sends SIGTERM and requires a clean exit (status 0): a benchmark
# that hides a crash at shutdown is worse than none.
stop_vigil() {
	local rc=0
	kill -TERM "$VIGIL_PID"
	wait "$VIGIL_PID" || rc=$?
	VIGIL_PID=""
	if ((rc != 0)); then
		cat "$WORK/vigil.log" >&2
		die "vigil exited with status $rc after SIGTERM"
	fi
}

# scrape prints the counters of one /metrics scrape as JSON.
scrape() {
	curl -fsS --max-time 5 "http://$VIGIL_ADDR/metrics" | awk '
		/^vigil_events_total\{.*kind="(exec|fork|exit)"/ { match($1, /kind="[a-z]+"/); k[substr($1, RSTART + 6, RLENGTH - 7)] = $2 }
		/^vigil_events_lost_total\{/ { lost += $2 }
		/^vigil_events_dropped_total\{/ { dropped += $2 }
		/^vigil_ring_records_total\{/ { records += $2 }
		/^process_cpu_seconds_total / { cpu = $2 }
		END {
			printf "{\"exec\":%.0f,\"fork\":%.0f,\"exit\":%.0f,\"events\":%.0f,\"lost\":%.0f,\"dropped\":%.0f,\"records\":%.0f,\"cpu\":%s}\n",
				k["exec"], k["fork"], k["exit"], k["exec"] + k["fork"] + k["exit"], lost, dropped, records, cpu + 0
		}'
}

# settle MAX_GROWTH COUNTER... waits until COUNTER (a command printing a
# number) grows by less than MAX_GROWTH per 250 ms, i.e. vigil has worked
# off the backlog the storm left in the ring and queue; its CPU for that
# work counts too. MAX_GROWTH is not 0 because the rest of the node keeps
# producing a trickle of events (this very script's curl/stat polls too).
settle() {
	local max=$1 prev cur t0
	shift
	t0=$(now)
	prev=$("$@")
	while :; do
		sleep 0.25
		cur=$("$@")
		((cur - prev < max)) && break
		if (($(date +%s) - ${t0%.*} > SETTLE_MAX)); then
			log "warning: vigil still busy ${SETTLE_MAX}s after the storm; measuring anyway"
			break
		fi
		prev=$cur
	done
}

metric_events() { scrape | jq .events; }
# Trace mode: bytes of JSON written so far.
trace_bytes() { stat -c %s "$TRACE_OUT"; }

# --- one measurement each ------------------------------------------------

measure_a() {
	local la s i0
	la=$(loadavg)
	i0=$(irq_work)
	storm
	s=$(<"$WORK/storm.json")
	jq -c --argjson la "$la" --argjson iw "$(($(irq_work) - i0))" '{storm: ., loadavg: $la, irq_work: $iw}' <<<"$s"
}

# measure_vigil_run PAUSE: one B run with `vigil run`; with PAUSE=1 vigil
# is stopped (SIGSTOP) for the storm and resumed after it. Paused, vigil
# gets a ring and queue big enough for the whole storm (configuration, not
# code): the point is to see the batch's per-event cost, not drops.
measure_vigil_run() {
	local pause=$1 la foreign b0 m0 s m1 m2 b1 t0 t1 i0 i1 x0 x1
	stats_on
	if ((pause)); then
		VIGIL_PROCESS_RING_BUFFER_BYTES=$((256 << 20)) VIGIL_PROCESS_QUEUE_LENGTH=$((1 << 20)) start_vigil_run
	else
		start_vigil_run
	fi
	foreign=$(foreign_progs "$VIGIL_PID")
	la=$(loadavg)
	b0=$(bpf_progs "$VIGIL_PID")
	m0=$(scrape)
	x0=$(ctx_switches "$VIGIL_PID")
	((pause)) && kill -STOP "$VIGIL_PID"
	i0=$(irq_work)
	storm
	i1=$(irq_work)
	s=$(<"$WORK/storm.json")
	foreign=$(jq -n "[$foreign, $(foreign_progs "$VIGIL_PID")] | max")
	# fdinfo is readable while vigil is stopped: program counters cover
	# exactly the storm.
	b1=$(bpf_progs "$VIGIL_PID")
	((pause)) && kill -CONT "$VIGIL_PID"
	m1=$(scrape) # what vigil had handled when the storm ended
	t0=$(now)
	settle "$SETTLE_EVENTS" metric_events
	t1=$(now)
	m2=$(scrape)
	x1=$(ctx_switches "$VIGIL_PID")
	stop_vigil
	stats_restore
	jq -n -c --argjson s "$s" --argjson m0 "$m0" --argjson m1 "$m1" --argjson m2 "$m2" \
		--argjson bpf "$(bpf_delta "$b0" "$b1")" --argjson la "$la" --argjson foreign "$foreign" \
		--argjson settle "$(jq -n "$t1 - $t0")" --argjson iw "$((i1 - i0))" --argjson cs "$((x1 - x0))" '
		{storm: $s, loadavg: $la, foreign_vigil_progs: $foreign,
		 events: ($m2.events - $m0.events),
		 events_by_kind: {exec: ($m2.exec - $m0.exec), fork: ($m2.fork - $m0.fork), exit: ($m2.exit - $m0.exit)},
		 backlog_at_storm_end: ($m2.events - $m1.events),
		 lost: ($m2.lost - $m0.lost), dropped: ($m2.dropped - $m0.dropped),
		 ring_records: ($m2.records - $m0.records),
		 cpu_seconds: ($m2.cpu - $m0.cpu), cpu_seconds_during_storm: ($m1.cpu - $m0.cpu),
		 settle_seconds: $settle, bpf: $bpf, irq_work: $iw, ctx_switches: $cs}'
}

measure_b_run() { measure_vigil_run 0; }
measure_b_paused() { measure_vigil_run 1; }

measure_b_trace() {
	local la foreign b0 c0 cs l0 lost0 s bytes1 b1 c1 lost1 l1 t0 t1 i0 i1 x0 x1
	stats_on
	start_vigil_trace
	foreign=$(foreign_progs "$VIGIL_PID")
	la=$(loadavg)
	b0=$(bpf_progs "$VIGIL_PID")
	lost0=$(bpf_lost "$VIGIL_PID")
	c0=$(proc_cpu "$VIGIL_PID")
	l0=$(wc -l <"$TRACE_OUT") # every event is flushed as written
	x0=$(ctx_switches "$VIGIL_PID")
	i0=$(irq_work)
	storm
	i1=$(irq_work)
	s=$(<"$WORK/storm.json")
	bytes1=$(trace_bytes)
	cs=$(proc_cpu "$VIGIL_PID")
	foreign=$(jq -n "[$foreign, $(foreign_progs "$VIGIL_PID")] | max")
	t0=$(now)
	settle "$SETTLE_BYTES" trace_bytes
	t1=$(now)
	c1=$(proc_cpu "$VIGIL_PID")
	x1=$(ctx_switches "$VIGIL_PID")
	b1=$(bpf_progs "$VIGIL_PID")
	lost1=$(bpf_lost "$VIGIL_PID")
	# Count lines only before SIGTERM: the shutdown drain must not add
	# events after the CPU reading, or CPU per event would look too low.
	l1=$(wc -l <"$TRACE_OUT")
	stop_vigil
	stats_restore
	jq -n -c --argjson s "$s" --argjson bpf "$(bpf_delta "$b0" "$b1")" --argjson la "$la" \
		--argjson foreign "$foreign" --argjson settle "$(jq -n "$t1 - $t0")" \
		--argjson ev "$((l1 - l0))" --argjson lost "$((lost1 - lost0))" \
		--argjson cpu "$(jq -n "$c1 - $c0")" --argjson bytes "$(($(trace_bytes) - bytes1))" \
		--argjson iw "$((i1 - i0))" --argjson cs "$((x1 - x0))" --argjson cpus "$(jq -n "$cs - $c0")" '
		{storm: $s, loadavg: $la, foreign_vigil_progs: $foreign,
		 events: $ev, bytes_after_storm_end: $bytes,
		 lost: $lost, dropped: null,
		 cpu_seconds: $cpu, cpu_seconds_during_storm: $cpus,
		 settle_seconds: $settle, bpf: $bpf, irq_work: $iw, ctx_switches: $cs}'
	: >"$TRACE_OUT" # free the tmpfs memory now
}

# pair ROUND MODE measures one A and one B of MODE, A first when ROUND
# (counted from 0) is even and B first when it is odd, and appends the
# combined record to runs.jsonl.
pair() {
	local round=$1 mode=$2 a b order
	wait_quiet
	if ((round % 2 == 0)); then
		order=AB
		log "round $((round + 1))/$ROUNDS $mode: A (no vigil)"
		measure_a >"$WORK/a.json"
		log "round $((round + 1))/$ROUNDS $mode: B (vigil $mode)"
		measure_b_"$mode" >"$WORK/b.json"
	else
		order=BA
		log "round $((round + 1))/$ROUNDS $mode: B (vigil $mode)"
		measure_b_"$mode" >"$WORK/b.json"
		log "round $((round + 1))/$ROUNDS $mode: A (no vigil)"
		measure_a >"$WORK/a.json"
	fi
	a=$(<"$WORK/a.json")
	b=$(<"$WORK/b.json")
	jq -n -c --argjson round "$((round + 1))" --arg mode "$mode" --arg order "$order" --argjson ncpu "$(nproc)" --argjson quiet "$QUIET_PCT" \
		--argjson a "$a" --argjson b "$b" '
		{round: $round, mode: $mode, order: $order,
		 baseline: $a.storm, baseline_loadavg: $a.loadavg, vigil: ($b | del(.storm)), with_vigil: $b.storm,
		 ratio: ($b.storm.rate / $a.storm.rate),
		 events_per_s: ($b.events / $b.storm.seconds),
		 events_per_exec: ($b.events / $b.storm.execs),
		 cpu_ms_per_1k_events: (if $b.events > 0 then $b.cpu_seconds * 1000 / ($b.events / 1000) else null end),
		 bpf_ns_per_exec: ([$b.bpf[].run_time_ns] | add / $b.storm.execs),
		 irq_work_per_exec: {baseline: ($a.irq_work / $a.storm.execs), with_vigil: ($b.irq_work / $b.storm.execs)},
		 ctx_switches_per_event: (if $b.events > 0 then $b.ctx_switches / $b.events else null end),
		 neighbours_cpu_pct: {
			baseline: (($a.storm.node_busy_seconds - $a.storm.cpu_seconds) / ($a.storm.seconds * $ncpu) * 100),
			with_vigil: (($b.storm.node_busy_seconds - $b.storm.cpu_seconds - $b.cpu_seconds_during_storm) / ($b.storm.seconds * $ncpu) * 100)}}
		| .noisy = (.neighbours_cpu_pct.baseline > $quiet or .neighbours_cpu_pct.with_vigil > $quiet
			or $b.foreign_vigil_progs > 0)' \
		| tee -a "$WORK/runs.jsonl" | jq -r '"  ratio \(.ratio * 1000 | round / 1000)  events/s \(.events_per_s | round)  lost \(.vigil.lost)\(if .noisy then "  (noisy: other work on the node)" else "" end)"' >&2
}

# --- report ------------------------------------------------------------------

# summary RUNS_JSONL aggregates the runs: median ratio per mode, BPF
# ns/invocation (total time over total runs, so busy rounds weigh in
# proportion).
summary() {
	jq -s '
		def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		group_by(.mode) | map({key: .[0].mode, value: {
			median_ratio: ([.[].ratio] | median),
			quiet_rounds: ([.[] | select(.noisy | not)] | length),
			median_ratio_quiet: ([.[] | select(.noisy | not) | .ratio] | median),
			min_ratio: ([.[].ratio] | min),
			median_baseline_rate: ([.[].baseline.rate] | median),
			median_events_per_s: ([.[].events_per_s] | median),
			median_cpu_ms_per_1k_events: ([.[].cpu_ms_per_1k_events] | median),
			median_bpf_ns_per_exec: ([.[].bpf_ns_per_exec] | median),
			median_bpf_process_ns_per_exec: ([.[] | ([.vigil.bpf | to_entries[] | select(.key | startswith("handle_")) | .value.run_time_ns]
				| add) / .with_vigil.execs] | median),
			median_irq_work_per_exec: ([.[].irq_work_per_exec.with_vigil] | median),
			median_baseline_irq_work_per_exec: ([.[].irq_work_per_exec.baseline] | median),
			median_ctx_switches_per_event: ([.[].ctx_switches_per_event] | median),
			lost_total: ([.[].vigil.lost] | add),
			dropped_total: (if any(.[]; .vigil.dropped == null) then null else [.[].vigil.dropped] | add end),
			execs_total: ([.[].with_vigil.execs] | add),
			bpf: ([.[].vigil.bpf | to_entries[]] | group_by(.key) | map({key: .[0].key, value: {
				run_cnt: ([.[].value.run_cnt] | add),
				run_time_ns: ([.[].value.run_time_ns] | add),
				recursion_misses: ([.[].value.recursion_misses] | add)}}
				| .value.ns_per_run = (if .value.run_cnt > 0 then .value.run_time_ns / .value.run_cnt else null end))
				| from_entries)
		}}) | from_entries' "$1"
}

# print_tables writes the Markdown tables (the same ones bench/NOTES.md
# shows) from the results JSON on stdin.
print_tables() {
	jq -r '
		def f(n): if . == null then "n/a" else (. * pow(10; n) | round) / pow(10; n) | if . == 0 then "0" else tostring end end;
		def title: {run: "`vigil run`, metrics only",
			trace: "`vigil trace --json`, to a tmpfs file",
			paused: "diagnostic: `vigil run` stopped during the storm, so no reader wakeups"}[.];
		def order: {run: 0, trace: 1, paused: 2}[.] // 9;
		def prog_order: {handle_exec: 0, handle_fork: 1, handle_exit: 2}[.] // 9;
		.runs as $runs | .summary as $sum | .quiet_pct as $quiet | ($sum | keys_unsorted | sort_by(order)) as $modes |
		($modes[] as $m |
			"### mode: \($m) (\($m | title))\n",
			"| round | order | baseline execs/s | with vigil execs/s | ratio | events/s seen | events/exec | lost | dropped | vigil CPU ms / 1k events | neighbours CPU % (A / B) |",
			"|---|---|---|---|---|---|---|---|---|---|---|",
			($runs[] | select(.mode == $m) |
				"| \(.round)\(if .noisy then "*" else "" end) | \(.order) | \(.baseline.rate | f(0)) | \(.with_vigil.rate | f(0)) | \(.ratio | f(3)) | \(.events_per_s | f(0)) | \(.events_per_exec | f(2)) | \(.vigil.lost) | \(.vigil.dropped | f(0)) | \(.cpu_ms_per_1k_events | f(1)) | \([.neighbours_cpu_pct.baseline, 0] | max | f(0)) / \([.neighbours_cpu_pct.with_vigil, 0] | max | f(0)) |"),
			"",
			"median ratio: **\($sum[$m].median_ratio | f(3))** (goal >= 0.95); over the \($sum[$m].quiet_rounds) quiet rounds: **\($sum[$m].median_ratio_quiet | f(3))**; lost: **\($sum[$m].lost_total)** of \($sum[$m].execs_total * 3) expected events (goal 0)",
			(if $sum[$m].quiet_rounds < ([$runs[] | select(.mode == $m)] | length) then "(* noisy: other work took > \($quiet)% of the node during A or B, or another vigil was attached during B)" else empty end),
			"",
			"| BPF program | invocations | invocations / exec | ns / invocation | ns / exec | recursion misses |",
			"|---|---|---|---|---|---|",
			# The process sensor, then every program that runs at least once
			# per 100 execs, by cost; the rest in one line.
			($sum[$m].execs_total as $n | $sum[$m].bpf | to_entries
				| map(.shown = ((.key | prog_order) < 9 or .value.run_cnt >= $n / 100))
				| (map(select(.shown)) | sort_by((.key | prog_order), -.value.run_time_ns)[] |
					"| \(.key) | \(.value.run_cnt) | \(.value.run_cnt / $n | f(2)) | \(.value.ns_per_run | f(0)) | \(.value.run_time_ns / $n | f(0)) | \(.value.recursion_misses) |"),
				(map(select(.shown | not)) | select(length > 0)
					| (map(.value.run_cnt) | add) as $cnt | (map(.value.run_time_ns) | add) as $ns |
					"| \(length) other programs | \($cnt) | \($cnt / $n | f(2)) | \(if $cnt > 0 then $ns / $cnt else null end | f(0)) | \($ns / $n | f(0)) | \(map(.value.recursion_misses) | add) |")),
			""),
		"### where the cost goes (medians over rounds)\n",
		"| mode | ratio (all / quiet rounds) | BPF ns / exec (process sensor / all programs) | IRQ-work interrupts / exec (A / B) | vigil context switches / event | vigil CPU ms / 1k events |",
		"|---|---|---|---|---|---|",
		($modes[] as $m | $sum[$m] |
			"| \($m) | \(.median_ratio | f(3)) / \(.median_ratio_quiet | f(3)) | \(.median_bpf_process_ns_per_exec | f(0)) / \(.median_bpf_ns_per_exec | f(0)) | \(.median_baseline_irq_work_per_exec | f(2)) / \(.median_irq_work_per_exec | f(2)) | \(.median_ctx_switches_per_event | f(2)) | \(.median_cpu_ms_per_1k_events | f(1)) |"),
		""'
}

# report FILE prints the tables of a stored results file again (summary
# recomputed, so table changes apply to old runs too).
report() {
	WORK=$(mktemp -d)
	trap cleanup EXIT
	jq -c '.runs[]' "$1" >"$WORK/runs.jsonl"
	jq --argjson s "$(summary "$WORK/runs.jsonl")" '.summary = $s' "$1" | print_tables
}

main() {
	if [[ ${1:-} == --report ]]; then
		[[ -f ${2:-} ]] || die "usage: $0 --report bench/results/exec-storm-DATE.json"
		report "$2"
		return
	fi
	preflight
	WORK=$(mktemp -d)
	# tmpfs, so trace mode measures vigil, not the disk.
	TRACE_OUT=$(mktemp -p /dev/shm vigil-exec-storm.XXXXXX 2>/dev/null || mktemp -p "$WORK")
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	build
	mkdir -p "$RESULTS_DIR"
	: >"$WORK/runs.jsonl"
	log "warm-up storm (2 s, not recorded): page cache, CPU frequency"
	"$WORK/execstorm" -duration 2s >/dev/null

	local round mode
	for ((round = 0; round < ROUNDS; round++)); do
		for mode in "${MODES[@]}"; do
			pair "$round" "$mode"
		done
	done

	local out
	out=$RESULTS_DIR/exec-storm-$(date -u +%Y-%m-%dT%H%M%SZ).json
	jq -n --slurpfile runs "$WORK/runs.jsonl" --argjson summary "$(summary "$WORK/runs.jsonl")" \
		--arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
		--arg cpu_model "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		--arg go "$(go version)" --arg commit "$BUILD_COMMIT" --arg dirty "$BUILD_MODIFIED" \
		--argjson rounds "$ROUNDS" --argjson seconds "$SECS" --arg date "$(date -u +%FT%TZ)" --argjson quiet "$QUIET_PCT" '
		{date: $date, command: "./bench/exec-storm.sh \($rounds) \($seconds)",
		 machine: {kernel: $kernel, cpus: $cpus, cpu_model: $cpu_model, go: $go},
		 vigil: {commit: $commit, modified_files: ($dirty | split(",") | map(select(length > 0)))},
		 rounds: $rounds, seconds: $seconds, workers: $cpus, quiet_pct: $quiet,
		 summary: $summary, runs: $runs}' >"$WORK/results.json"
	mv "$WORK/results.json" "$out"

	echo
	echo "exec storm: $ROUNDS rounds x ${SECS}s, $(nproc) workers, kernel $(uname -r)"
	echo
	print_tables <"$out"
	echo "raw results: ${out#"$REPO"/}"
}

main "$@"
