#!/usr/bin/env bash
# cluster/local_cluster.sh start|stop|status|env
#
# A REAL two-node Ray cluster on one machine: a head node and a worker node, each a separate raylet with
# its own ports, temp dir, object store and custom resource ({"head": 1} / {"worker": 1}), so that
# `ray job submit --address http://127.0.0.1:$DASHBOARD_PORT ...` exercises the same path as a real cluster
# (job supervisor on the head, tasks and actors spread over two raylets, objects moved between two stores).
#
# Why not `ray stop`: it kills EVERY Ray process of the machine, including other people's embedded
# ray.init() sessions. Instead each node runs under its own `ray start --block`, whose PID is recorded in
# $STATE_DIR; stopping sends SIGTERM to exactly those PIDs (Ray then tears down the node's gcs/raylet/
# dashboard/workers itself), and as a last resort kills only processes whose command line names our
# own temp dirs.
#
# Environment (all optional):
#   RAY=/path/to/ray          the ray CLI (default: the repo's .venv/bin/ray, else `ray` on PATH)
#   STACKRAY_CLUSTER_DIR      state dir: pid files, node temp dirs, logs (default /tmp/stackray-cluster)
#   STACKRAY_CLUSTER_PORT     base port (default 26300); every port is base + a fixed offset, so two
#                             clusters with different bases (say a test and a demo) never collide
#   OBJECT_STORE_BYTES        per-node object store size (default 200000000, i.e. ~200 MB)
#   HEAD_CPUS / WORKER_CPUS   CPUs each node advertises (default 1 / 1)
#   START_TIMEOUT             seconds to wait for both nodes to register (default 120)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${RAY:-}" ]]; then
    if [[ -x "$REPO_ROOT/.venv/bin/ray" ]]; then RAY="$REPO_ROOT/.venv/bin/ray"; else RAY="$(command -v ray || true)"; fi
fi
[[ -n "$RAY" && -x "$RAY" ]] || { echo "local_cluster.sh: no ray CLI found (set RAY=/path/to/ray)" >&2; exit 2; }
RAY_BIN="$(cd "$(dirname "$RAY")" && pwd)"
PY="$RAY_BIN/python"

# Unix-socket paths under the temp dirs must stay < 108 bytes, hence a short default.
STATE_DIR="${STACKRAY_CLUSTER_DIR:-/tmp/stackray-cluster}"
BASE="${STACKRAY_CLUSTER_PORT:-26300}"
OBJECT_STORE_BYTES="${OBJECT_STORE_BYTES:-200000000}"
HEAD_CPUS="${HEAD_CPUS:-1}"
WORKER_CPUS="${WORKER_CPUS:-1}"
START_TIMEOUT="${START_TIMEOUT:-120}"
IP=127.0.0.1

GCS_PORT=$((BASE + 0))
DASHBOARD_PORT=$((BASE + 1))
CLIENT_PORT=$((BASE + 2))
# per-node ports: head at +10.., worker at +20..; worker processes get 100-port ranges above.
node_ports() {  # $1 = offset
    local o=$((BASE + $1))
    echo "--node-manager-port $((o + 0)) --object-manager-port $((o + 1))" \
         "--dashboard-agent-listen-port $((o + 2)) --dashboard-agent-grpc-port $((o + 3))" \
         "--runtime-env-agent-port $((o + 4)) --metrics-export-port $((o + 5))"
}
HEAD_WORKER_PORTS="--min-worker-port $((BASE + 100)) --max-worker-port $((BASE + 199))"
WORKER_WORKER_PORTS="--min-worker-port $((BASE + 200)) --max-worker-port $((BASE + 299))"

# Token authentication with a token private to this cluster: Ray's core services listen on all interfaces
# (see below), so the token is what keeps other hosts out. Explicit, because Ray 2.60 otherwise switches
# auth on or off depending on whether ~/.ray/auth_token happens to exist, and clients then disagree.
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH="$STATE_DIR/auth_token"
unset RAY_AUTH_TOKEN

GCS_ADDRESS="$IP:$GCS_PORT"
DASHBOARD_URL="http://$IP:$DASHBOARD_PORT"

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Launch `ray start --block` detached (own session, so a Ctrl-C in the caller's shell does not reach it).
launch() {  # $1 = node name, rest = ray start args
    local name="$1"; shift
    mkdir -p "$STATE_DIR/$name"
    # RAY_ADDRESS from the caller would redirect the worker's --address / the head's bootstrap.
    # PATH starts with the ray CLI's bin dir so that a job entrypoint `python ...` is the venv's python
    # (the one with stackray installed), not whatever python the caller's shell finds first.
    # No --node-ip-address: Ray replaces 127.0.0.1 by the machine's address anyway (it refuses a
    # loopback node IP), so both nodes register under the same, auto-detected IP.
    env -u RAY_ADDRESS RAY_USAGE_STATS_ENABLED=0 PATH="$RAY_BIN:$PATH" \
        setsid "$RAY" start --block --disable-usage-stats \
        --temp-dir "$STATE_DIR/$name/tmp" --object-store-memory "$OBJECT_STORE_BYTES" "$@" \
        >"$STATE_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/$name.pid"
}

# Number of ALIVE nodes registered in the GCS (0 when the GCS does not answer).
alive_nodes() {
    env -u RAY_ADDRESS "$RAY" list nodes --address "$GCS_ADDRESS" --format json 2>/dev/null \
        | "$PY" -c 'import json,sys; print(sum(n.get("state")=="ALIVE" for n in json.load(sys.stdin)))' \
        2>/dev/null || echo 0
}

wait_for() {  # $1 = wanted node count, $2 = what for
    local deadline=$((SECONDS + START_TIMEOUT))
    until [[ "$(alive_nodes)" -ge "$1" ]]; do
        for n in head worker; do
            if [[ -f "$STATE_DIR/$n.pid" ]] && ! pid_alive "$STATE_DIR/$n.pid"; then
                echo "local_cluster.sh: the $n node exited while waiting for $2; its log:" >&2
                tail -n 40 "$STATE_DIR/$n.log" >&2; do_stop >/dev/null 2>&1 || true; exit 1
            fi
        done
        if (( SECONDS > deadline )); then
            echo "local_cluster.sh: timed out after ${START_TIMEOUT}s waiting for $2" >&2
            tail -n 20 "$STATE_DIR"/*.log >&2; do_stop >/dev/null 2>&1 || true; exit 1
        fi
        sleep 1
    done
}

wait_for_dashboard() {
    local deadline=$((SECONDS + START_TIMEOUT))
    # The job server answers only with the token (Authorization: Bearer), which this also checks.
    until "$PY" -c "import urllib.request as u; t=open('$RAY_AUTH_TOKEN_PATH').read().strip(); u.urlopen(u.Request('$DASHBOARD_URL/api/version', headers={'Authorization': 'Bearer ' + t}), timeout=2)" 2>/dev/null; do
        if (( SECONDS > deadline )); then
            echo "local_cluster.sh: the dashboard (job submission server) did not answer at $DASHBOARD_URL" >&2
            do_stop >/dev/null 2>&1 || true; exit 1
        fi
        sleep 1
    done
}

do_start() {
    if pid_alive "$STATE_DIR/head.pid" || pid_alive "$STATE_DIR/worker.pid"; then
        echo "local_cluster.sh: a cluster is already running from $STATE_DIR (run '$0 stop' first)" >&2; exit 1
    fi
    mkdir -p "$STATE_DIR"
    if [[ ! -s "$RAY_AUTH_TOKEN_PATH" ]]; then
        (umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(32), end="")' >"$RAY_AUTH_TOKEN_PATH")
    fi
    # The dashboard must run: it hosts the job submission server `ray job submit` talks to.
    # shellcheck disable=SC2046
    launch head --head --port "$GCS_PORT" --num-cpus "$HEAD_CPUS" --num-gpus 0 --resources '{"head": 1}' \
        --include-dashboard true --dashboard-host "$IP" --dashboard-port "$DASHBOARD_PORT" \
        --ray-client-server-port "$CLIENT_PORT" $(node_ports 10) $HEAD_WORKER_PORTS
    wait_for 1 "the head node"
    # shellcheck disable=SC2046
    launch worker --address "$GCS_ADDRESS" --num-cpus "$WORKER_CPUS" --num-gpus 0 --resources '{"worker": 1}' \
        $(node_ports 20) $WORKER_WORKER_PORTS
    wait_for 2 "the worker node"
    wait_for_dashboard
    echo "two-node Ray cluster up: GCS $GCS_ADDRESS, dashboard/jobs $DASHBOARD_URL"
    echo "  eval \"\$($0 env)\"    # RAY_ADDRESS, RAY_API_SERVER_ADDRESS and the auth token for ray CLIs"
    echo "  ray job submit --working-dir . -- python jobs/run_active.py configs/smoke.yaml --run-dir RUN_DIR"
}

# What a shell needs to talk to this cluster with the ray CLI / ray.init(): eval "$(local_cluster.sh env)".
do_env() {
    echo "export RAY_AUTH_MODE=token"
    echo "export RAY_AUTH_TOKEN_PATH='$RAY_AUTH_TOKEN_PATH'"
    echo "export RAY_ADDRESS='$GCS_ADDRESS'"
    echo "export RAY_API_SERVER_ADDRESS='$DASHBOARD_URL'"
}

do_status() {
    echo "GCS $GCS_ADDRESS, dashboard/jobs $DASHBOARD_URL, state $STATE_DIR"
    local rc=0
    for n in head worker; do
        if pid_alive "$STATE_DIR/$n.pid"; then echo "  $n: running (pid $(cat "$STATE_DIR/$n.pid"))"
        else echo "  $n: down"; rc=1; fi
    done
    if [[ $rc -eq 0 ]]; then
        env -u RAY_ADDRESS "$RAY" list nodes --address "$GCS_ADDRESS" || rc=1
        local alive; alive="$(alive_nodes)"
        echo "alive nodes: $alive"
        [[ "$alive" -ge 2 ]] || rc=1
    fi
    return $rc
}

# Kill whatever survived under our temp dirs: PIDs chosen by their command line naming OUR state dir only.
kill_leftovers() {  # $1 = signal
    local pid
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        [[ "$pid" == "$$" ]] && continue
        if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$STATE_DIR/"; then
            kill "-$1" "$pid" 2>/dev/null || true
        fi
    done
}

do_stop() {
    local n
    for n in worker head; do
        if pid_alive "$STATE_DIR/$n.pid"; then kill -TERM "$(cat "$STATE_DIR/$n.pid")" 2>/dev/null || true; fi
    done
    for _ in $(seq 1 30); do
        pid_alive "$STATE_DIR/head.pid" || pid_alive "$STATE_DIR/worker.pid" || break
        sleep 1
    done
    for n in worker head; do
        if pid_alive "$STATE_DIR/$n.pid"; then kill -KILL "$(cat "$STATE_DIR/$n.pid")" 2>/dev/null || true; fi
        rm -f "$STATE_DIR/$n.pid"
    done
    kill_leftovers TERM; sleep 2; kill_leftovers KILL
    # Node temp dirs hold sockets, logs and session files; keep the *.log of the launchers for post-mortems.
    rm -rf "$STATE_DIR/head" "$STATE_DIR/worker" "$RAY_AUTH_TOKEN_PATH"
    echo "cluster stopped ($STATE_DIR)"
}

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    env) do_env ;;
    *) echo "usage: $0 start|stop|status|env   (env: RAY, STACKRAY_CLUSTER_DIR, STACKRAY_CLUSTER_PORT, OBJECT_STORE_BYTES)" >&2; exit 2 ;;
esac
