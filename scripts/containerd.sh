#!/usr/bin/env bash
# Start or stop a private containerd with its CRI plugin, for the CRI engine's
# tests and benchmarks (the counterpart of scripts/dockerd.sh).
#
#   scripts/containerd.sh start DIR  -> prints "unix://DIR/containerd.sock" once CRI answers
#   scripts/containerd.sh stop DIR   -> removes its pods' tasks, stops it by its pid file,
#                                       unmounts what it left under DIR, drops its bridge
#
# Everything lives under DIR: socket, root, state, config, CNI config and the
# CNI address allocations (host-local's dataDir), so it never touches a system
# containerd or another private one. Its pods sit on a bridge of its own
# (rc<hash of DIR>, on the first free 172.30.N.0/24: dockerd.sh uses 172.29.N.0/24).
#
# Facts of Debian's containerd 1.6.20 on these machines that shape the config:
# - restrict_oom_score_adj = true: without it the CRI plugin tries to lower a
#   container's oom_score_adj below ours and the create fails.
# - no registry is reachable, so sandbox_image is the local pause image that
#   scripts/cri-images.sh imports into the k8s.io namespace.
# - the stream server (exec/attach/port-forward URLs) listens on 127.0.0.1,
#   port 0 (any free port): two daemons never fight over 10010.
# - containerd sets up the pod's loopback itself from the CNI bin dir, so the
#   conflist holds only bridge + host-local + portmap.
# - netns_mounts_under_state_dir: the pods' network namespaces are bind-mounted
#   under DIR instead of /var/run/netns.
#
# Runtime handlers: runc, and runsc when /usr/bin/runsc exists. gVisor's own
# shim (containerd-shim-runsc-v1) is used when installed; otherwise the runc
# shim drives runsc through scripts/runsc-cri-adapter (see docs/cri.md).
# CONTAINERD_ARGS adds flags.
set -euo pipefail

cmd=${1:?usage: containerd.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: containerd.sh start|stop DIR}")
here=$(cd "$(dirname "$0")" && pwd)

hash=$(echo "$dir" | md5sum | cut -c1-8)
bridge="rc$hash"
sock="$dir/containerd.sock"

# ctr waits 10 s for a socket that does not exist: check it first, and bound the
# wait (a task wedged in its shim can hold `ctr tasks delete` for ever).
ctr_() {
    [ -S "$sock" ] || return 1
    timeout 20 ctr --address "$sock" --connect-timeout 2s "$@"
}

# A bridge for this daemon's pods, on the first 172.30.N.0/24 no interface uses.
# Prints the subnet's N.
make_bridge() {
    local n
    if ip link show "$bridge" >/dev/null 2>&1; then
        n=$(ip -4 -o addr show dev "$bridge" | awk '{print $4}' | cut -d. -f3)
        [ -n "$n" ] && echo "$n" && return
        ip link del "$bridge"
    fi
    local used
    used=$(ip -4 -o addr show | awk '{print $4}')
    for n in $(seq 1 254); do
        if ! grep -q "^172\.30\.$n\." <<<"$used"; then
            ip link add name "$bridge" type bridge
            ip addr add "172.30.$n.1/24" dev "$bridge"
            ip link set "$bridge" up
            echo "$n"
            return
        fi
    done
    echo "no free 172.30.N.0/24 for $bridge" >&2
    exit 1
}

write_config() {
    local n=$1
    mkdir -p "$dir/cni/net.d" "$dir/cni/ipam" "$dir/root" "$dir/state" "$dir/opt" "$dir/pods"
    cat >"$dir/cni/net.d/10-$bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$bridge",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "172.30.$n.0/24", "gateway": "172.30.$n.1"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$dir/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
    local runsc_handler=""
    if [ -x /usr/bin/runsc ]; then
        if command -v containerd-shim-runsc-v1 >/dev/null; then
            runsc_handler="
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc]
      runtime_type = \"io.containerd.runsc.v1\""
        else
            runsc_handler="
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc]
      runtime_type = \"io.containerd.runc.v2\"
      pod_annotations = [\"dev.gvisor.*\"]
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runsc.options]
        BinaryName = \"$here/runsc-cri-adapter\"
        Root = \"$dir/state/runsc\""
        fi
    fi
    cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$dir/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/local/pause:test"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$dir/state/runc"$runsc_handler
EOF
}

start() {
    mkdir -p "$dir"
    if [ -f "$dir/containerd.pid" ] && kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null; then
        echo "unix://$sock"
        return
    fi
    local n
    n=$(make_bridge)
    write_config "$n"
    setsid containerd --config "$dir/config.toml" --log-level info ${CONTAINERD_ARGS:-} \
        >"$dir/containerd.log" 2>&1 </dev/null &
    echo $! >"$dir/containerd.pid"
    for _ in $(seq 1 120); do
        # Answering is not enough: the CRI plugin must have loaded.
        if ctr_ plugins ls 2>/dev/null | grep -q 'io.containerd.grpc.v1 *cri *.* ok'; then
            echo "unix://$sock"
            return
        fi
        if ! kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done
    echo "containerd did not answer within 60 s; its log:" >&2
    tail -n 30 "$dir/containerd.log" >&2
    exit 1
}

# Kill and delete every task of the k8s.io namespace while containerd still
# answers (a shim outlives its containerd), then stop containerd itself.
stop() {
    local pidfile="$dir/containerd.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        local task
        for task in $(ctr_ -n k8s.io tasks ls -q 2>/dev/null); do
            ctr_ -n k8s.io tasks kill -a -s SIGKILL "$task" >/dev/null 2>&1 || true
        done
        for task in $(ctr_ -n k8s.io tasks ls -q 2>/dev/null); do
            ctr_ -n k8s.io tasks delete -f "$task" >/dev/null 2>&1 || true
        done
        stop_pid "$(cat "$pidfile")"
    fi
    # Shims of this daemon that are still there (containerd was killed before
    # it could reap them): they name our socket in their argv; so do the
    # runsc adapter's mirror processes (by their --root under DIR).
    local pid
    for pid in $(pgrep -f -- "-address $sock( |$)" || true) \
        $(pgrep -f -- "runsc-cri-adapter --root $dir/" || true); do
        stop_pid "$pid"
    done
    # Mounts left under DIR (rootfs, shm, netns): deepest first.
    awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r \
        | while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
    ip link del "$bridge" 2>/dev/null || true
}

stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    echo "$pid did not stop in 30 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: containerd.sh start|stop DIR" >&2; exit 2 ;;
esac
