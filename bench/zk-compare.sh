#!/usr/bin/env bash
# corral against Apache ZooKeeper 3.8, side by side on this machine, in one run
# (issue 7, "Speed").
#
# Installs Debian's `zookeeper` package if it is missing, builds corral and
# corral-bench in release, starts a 3-server ZooKeeper ensemble (fsync on) and
# a 3-node corral cluster (`corral dev`), both on loopback with their data in
# one temporary directory, runs `corral-bench compare` against both, and stops
# exactly the processes it started, by PID, also on error or Ctrl-C.
#
#   bench/zk-compare.sh                 # 5 s per phase, 64 clients, 8 in flight
#   bench/zk-compare.sh --seconds 10    # any `corral-bench compare` option
#   KEEP=1 bench/zk-compare.sh          # keep the directory (logs, configs)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/corral-zk-compare.XXXXXX")
zk_nodes=3
zk_jar=/usr/share/java/zookeeper.jar
zk_heap_mb=1000 # ZooKeeper's own zkServer.sh default (ZK_SERVER_HEAP)

zk_pids=()     # the ZooKeeper servers this script started
dev_pid=""     # the `corral dev` this script started
corral_pids=() # the nodes that `corral dev` started for this script

log() { printf 'zk-compare: %s\n' "$*" >&2; }

# Whether PID is alive and its command line mentions WORD (guards against a
# reused PID: only our own processes are ever signalled).
is_ours() {
    local pid=$1 word=$2 cmdline
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ $cmdline == *"$word"* ]]
}

# SIGTERM, then up to SECONDS for the PIDs to exit, then SIGKILL.
stop_pids() {
    local seconds=$1 word=$2
    shift 2
    local pid
    for pid in "$@"; do
        if is_ours "$pid" "$word"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    local deadline=$((SECONDS + seconds))
    for pid in "$@"; do
        while is_ours "$pid" "$word" && ((SECONDS < deadline)); do sleep 0.2; done
        if is_ours "$pid" "$word"; then
            log "pid $pid did not stop within ${seconds} s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n $dev_pid ]]; then
        # `corral dev` stops its nodes cleanly on SIGTERM.
        stop_pids 20 corral "$dev_pid"
        wait "$dev_pid" 2>/dev/null
    fi
    if ((${#corral_pids[@]})); then stop_pids 5 "$work" "${corral_pids[@]}"; fi
    if ((${#zk_pids[@]})); then
        stop_pids 15 "$work" "${zk_pids[@]}"
        wait "${zk_pids[@]}" 2>/dev/null
    fi
    if [[ $status -ne 0 || -n ${KEEP:-} ]]; then
        log "logs and configs kept in $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install_zookeeper() {
    if [[ -r $zk_jar ]] && command -v java >/dev/null; then return; fi
    log "installing Debian's zookeeper package"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y zookeeper
    apt-cache policy zookeeper | sed -n '1,3p' >&2
}

# Sets `port` to a TCP port on 127.0.0.1 that nothing listens on and that
# this script has not handed out yet.
taken_ports=" "
free_port() {
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 40000))
        [[ $taken_ports == *" $port "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            taken_ports+="$port "
            return
        fi
    done
    log "no free port found"
    return 1
}

# The reply of a ZooKeeper four-letter word, or nothing.
zk_four_letters() {
    local port=$1 word=$2
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf '%s' $word >&3 && cat <&3" 2>/dev/null || true
}

# The body of an HTTP/1.0 GET of PATH from HOST:PORT, or nothing.
http_get() {
    local address=$1 path=$2
    timeout 2 bash -c "exec 3<>/dev/tcp/${address%:*}/${address##*:} &&
        printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' '$path' '$address' >&3 && cat <&3" 2>/dev/null || true
}

start_zookeeper() {
    local i port peer_port client_ports=() servers=""
    for i in $(seq 1 "$zk_nodes"); do
        free_port
        client_ports+=("$port")
        free_port
        peer_port=$port
        free_port
        servers+="server.$i=127.0.0.1:$peer_port:$port"$'\n'
    done
    local classpath=$zk_jar
    if [[ -r /usr/share/java/slf4j-simple.jar ]]; then
        classpath+=":/usr/share/java/slf4j-simple.jar" # logs to the node's log file
    fi
    for i in $(seq 1 "$zk_nodes"); do
        local dir=$work/zk/node-$i
        mkdir -p "$dir/data"
        echo "$i" >"$dir/data/myid"
        cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=${client_ports[$((i - 1))]}
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=yes
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
$servers
EOF
        java -Xms${zk_heap_mb}m -Xmx${zk_heap_mb}m \
            -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
            -Dzookeeper.datadir.autocreate=true \
            -cp "$classpath" org.apache.zookeeper.server.quorum.QuorumPeerMain \
            "$dir/zoo.cfg" >"$dir/server.log" 2>&1 </dev/null &
        zk_pids+=("$!")
    done
    local deadline=$((SECONDS + 90)) serving reply
    while :; do
        serving=0
        for port in "${client_ports[@]}"; do
            reply=$(zk_four_letters "$port" srvr)
            if [[ $reply == *"Mode: leader"* || $reply == *"Mode: follower"* ]]; then
                serving=$((serving + 1))
            fi
        done
        ((serving == zk_nodes)) && break
        for i in "${!zk_pids[@]}"; do
            if ! kill -0 "${zk_pids[$i]}" 2>/dev/null; then
                log "ZooKeeper server $((i + 1)) exited; its log:"
                tail -n 30 "$work/zk/node-$((i + 1))/server.log" >&2
                return 1
            fi
        done
        if ((SECONDS >= deadline)); then
            log "the ZooKeeper ensemble did not form within 90 s (logs in $work/zk)"
            return 1
        fi
        sleep 0.5
    done
    # The leader first: `compare` puts its single-client phase on the first
    # endpoint of each system, so both measure the same path (to the leader).
    local leader="" others=""
    for port in "${client_ports[@]}"; do
        reply=$(zk_four_letters "$port" srvr)
        if [[ -z $leader && $reply == *"Mode: leader"* ]]; then
            leader=127.0.0.1:$port
        else
            others+=",127.0.0.1:$port"
        fi
    done
    zk_endpoints=${leader:-${others#,}}${leader:+$others}
    log "ZooKeeper $zk_endpoints serving (leader ${leader:-unknown} first), pids ${zk_pids[*]}"
}

start_corral() {
    local out=$work/corral-dev.out
    : >"$out"
    "$target_dir/release/corral" dev --nodes 3 --dir "$work/corral" >"$out" 2>&1 </dev/null &
    dev_pid=$!
    local deadline=$((SECONDS + 90))
    # Node PIDs are printed before readiness: record them first, so the trap
    # can stop them even if readiness never comes.
    until grep -q '^export CORRAL_KEY=' "$out"; do
        if ! kill -0 "$dev_pid" 2>/dev/null || ((SECONDS >= deadline)); then
            log "corral dev did not start:"
            cat "$out" >&2
            return 1
        fi
        sleep 0.2
    done
    mapfile -t corral_pids < <(sed -n 's/^  node [0-9]*  pid \([0-9]*\) .*/\1/p' "$out")
    until grep -q 'every node is ready' "$out"; do
        if grep -q 'not every node is ready' "$out" || ! kill -0 "$dev_pid" 2>/dev/null ||
            ((SECONDS >= deadline)); then
            log "the corral cluster did not become ready:"
            cat "$out" >&2
            return 1
        fi
        sleep 0.2
    done
    # shellcheck disable=SC1090 # the export lines corral dev printed
    source <(grep '^export CORRAL_' "$out")
    # The leader first, as for ZooKeeper.
    local endpoint metrics leader="" others=""
    while read -r endpoint metrics; do
        if [[ -z $leader ]] && http_get "$metrics" /metrics | grep -q '^corral_replica_is_leader 1'; then
            leader=$endpoint
        else
            others+=",$endpoint"
        fi
    done < <(sed -n 's|^  node [0-9]*  pid [0-9]*  endpoint \([^ ]*\)  metrics http://\([^/]*\)/metrics .*|\1 \2|p' "$out")
    CORRAL_ENDPOINTS=${leader:-${others#,}}${leader:+$others}
    log "corral $CORRAL_ENDPOINTS serving (leader ${leader:-unknown} first), pids ${corral_pids[*]}"
}

main() {
    install_zookeeper
    log "building corral and corral-bench (release)"
    (cd "$repo" && cargo build --release -p corral -p corral-bench --features corral-bench/zookeeper)
    start_zookeeper
    start_corral
    local corral_pid_list zk_pid_list
    corral_pid_list=$(
        IFS=,
        echo "${corral_pids[*]}"
    )
    zk_pid_list=$(
        IFS=,
        echo "${zk_pids[*]}"
    )
    local version
    version=$(zk_four_letters "${zk_endpoints##*:}" srvr)
    log "ZooKeeper ${version%%$'\n'*}"
    "$target_dir/release/corral-bench" compare \
        --zk-endpoints "$zk_endpoints" --zk-pids "$zk_pid_list" \
        --corral-endpoints "$CORRAL_ENDPOINTS" --corral-pids "$corral_pid_list" \
        --clock-ticks "$(getconf CLK_TCK)" \
        --fsync-dir "$work" \
        "$@"
}

main "$@"
