#!/usr/bin/env bash
# Start or stop a private Docker daemon for tests, the benchmark and the demo.
#
#   scripts/dockerd.sh start DIR   -> prints "unix://DIR/docker.sock" once the daemon answers
#   scripts/dockerd.sh stop DIR    -> stops the daemon started in DIR, by its pid file
#
# Every daemon gets a bridge of its own (rd<hash of DIR>, on a free
# 172.29.N.0/24) and no iptables rules: two daemons on one docker0 hand out the
# same addresses and reset each other's published ports, and two daemons
# rewriting the same DOCKER chains undo each other. Published ports still work
# through docker-proxy. DOCKERD_ARGS adds flags.
#
# The daemon gets its own socket, data root, exec root, bridge and pid file
# under DIR, so it never touches a system daemon or another private one. runsc is registered when installed
# (with --network=host: without it gVisor refuses to run in the root netns).
set -euo pipefail

cmd=${1:?usage: dockerd.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: dockerd.sh start|stop DIR}")

hash=$(echo "$dir" | md5sum | cut -c1-8)
bridge="rd$hash"

# A bridge for this daemon, on the first free 172.29.N.0/PREFIX. DOCKERD_PREFIX
# (default 24: 253 addresses) may be 22 or 23 for more than 250 sandboxes; the
# 500-sandbox benchmark uses 22. An existing bridge is kept as it is, and a
# daemon restarted on an old DIR takes back the subnet its data root recorded.
make_bridge() {
    if ip link show "$bridge" >/dev/null 2>&1; then
        return
    fi
    local prefix=${DOCKERD_PREFIX:-24} used n k step free
    case "$prefix" in
        22) step=4 ;;
        23) step=2 ;;
        24) step=1 ;;
        *) echo "DOCKERD_PREFIX must be 22, 23 or 24, not $prefix" >&2; exit 2 ;;
    esac
    used=$(ip -4 -o addr show | awk '{print $4}')
    for n in $(seq "$step" "$step" $((256 - step))); do
        free=1
        for k in $(seq "$n" $((n + step - 1))); do
            if grep -q "^172\.29\.$k\." <<<"$used"; then
                free=0
            fi
        done
        if [ "$free" = 1 ]; then
            ip link add name "$bridge" type bridge
            ip addr add "172.29.$n.1/$prefix" dev "$bridge"
            ip link set "$bridge" up
            return
        fi
    done
    echo "no free 172.29.N.0/$prefix for $bridge" >&2
    exit 1
}

start() {
    mkdir -p "$dir"
    local runtimes='{}'
    if [ -x /usr/bin/runsc ]; then
        runtimes='{"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=host"]}}'
    fi
    printf '{"runtimes": %s}\n' "$runtimes" >"$dir/daemon.json"
    # exec-root must be short: containerd's socket path lives under it.
    local exec_root="/run/rd-$hash"
    if [ -f "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
        echo "unix://$dir/docker.sock"
        return
    fi
    make_bridge
    setsid dockerd \
        --host "unix://$dir/docker.sock" \
        --data-root "$dir/data" \
        --exec-root "$exec_root" \
        --pidfile "$dir/dockerd.pid" \
        --config-file "$dir/daemon.json" \
        --storage-driver overlay2 \
        --bridge "$bridge" --iptables=false --ip-masq=false \
        ${DOCKERD_ARGS:-} \
        >"$dir/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        if docker --host "unix://$dir/docker.sock" version >/dev/null 2>&1; then
            echo "unix://$dir/docker.sock"
            return
        fi
        sleep 0.5
    done
    echo "dockerd did not answer within 60 s; its log:" >&2
    tail -n 30 "$dir/dockerd.log" >&2
    exit 1
}

stop() {
    stop_daemon
    ip link del "$bridge" 2>/dev/null || true
}

stop_daemon() {
    local pidfile="$dir/dockerd.pid"
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    echo "dockerd $pid did not stop in 30 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: dockerd.sh start|stop DIR" >&2; exit 2 ;;
esac
