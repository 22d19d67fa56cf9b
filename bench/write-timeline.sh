#!/usr/bin/env bash
# Where a lone write's time goes: one client writing through the leader of a
# local 3-node cluster (`corral-bench writes --proposers 1 --via leader`),
# while `perf` records the syscalls of every process for a few seconds; then
# `corral-bench timeline` splits each write into its hops and steps.
#
#   bench/write-timeline.sh                 # on the data dirs' usual filesystem
#   TMPDIR=/dev/shm bench/write-timeline.sh # on tmpfs: no disk in the path
#   RECORD_SECONDS=10 bench/write-timeline.sh --tail-share 0.001  # the p99.9 writes
#   WRITES_ARGS="--node-setting runtime.idle_poll_us=0" bench/write-timeline.sh
#
# Needs `perf` (Debian: linux-perf) and root (or kernel.perf_event_paranoid
# at -1) for system-wide syscall tracepoints. The cluster is the one
# `corral-bench writes` starts and stops itself.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo/target}
record_seconds=${RECORD_SECONDS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/corral-write-timeline.XXXXXX")
bench_pid=""

cleanup() {
    local status=$?
    set +e
    # Only the load generator this script started: it stops its own cluster.
    if [[ -n $bench_pid ]] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -TERM "$bench_pid"
        wait "$bench_pid"
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v perf >/dev/null || {
    echo "write-timeline: perf is missing (apt-get install linux-perf)" >&2
    exit 1
}

(cd "$repo" && cargo build --release -q -p corral -p corral-bench)

# Long enough to start, warm up and outlast the recording.
# shellcheck disable=SC2086 # WRITES_ARGS: more `writes` options, split on spaces
"$target_dir/release/corral-bench" writes --proposers 1 --via leader \
    --seconds $((record_seconds + 6)) ${WRITES_ARGS:-} >"$work/writes.out" 2>&1 &
bench_pid=$!
sleep 5
perf record -q -a -o "$work/perf.data" \
    -e syscalls:sys_enter_sendmsg -e syscalls:sys_exit_recvmmsg \
    -e syscalls:sys_enter_pwrite64 -e syscalls:sys_exit_pwrite64 \
    -- sleep "$record_seconds"
wait "$bench_pid"
bench_pid=""
cat "$work/writes.out"
echo
perf script -i "$work/perf.data" -F comm,pid,tid,time,event,trace 2>/dev/null |
    "$target_dir/release/corral-bench" timeline "$@"
