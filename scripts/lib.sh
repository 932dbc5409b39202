# Shared by setup.sh, test.sh and .ci/run: source it, don't run it.

# What the README's two commands need, listed once. setup.sh installs
# SETUP_PACKAGES, and DAEMON_PACKAGES when it starts a Docker daemon of its own
# (runsc with it, so that daemon offers gVisor as the tests' daemon must);
# test.sh and .ci/run install TEST_PACKAGES before anything runs.
# - docker.io brings dockerd and containerd; the CRI engine's tests also need
#   containerd's CNI plugins (bridge, host-local, portmap, loopback in /usr/lib/cni).
# - runsc: the gVisor runtime the daemons register; busybox-static: the test images.
# - git: sync and its tests; openssl: the TLS tests; iproute2: the daemons'
#   bridges; systemd: systemd-analyze verifies contrib/systemd; age: encrypted
#   manifests (*.yaml.age) and their tests.
# - docker-registry, apache2-utils (htpasswd): the private registry that
#   imagePullSecrets are tested against (tests/integration/registry.py runs the
#   binary itself; its systemd service is never enabled).
SETUP_PACKAGES=(python3-venv git openssl busybox-static iproute2)
DAEMON_PACKAGES=(docker.io runsc)
TEST_PACKAGES=("${SETUP_PACKAGES[@]}" "${DAEMON_PACKAGES[@]}" containerd
    containernetworking-plugins systemd age docker-registry apache2-utils)

# Install Debian packages that are missing (root: apt-get; otherwise say what to do).
need_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
        return 1
    fi
    echo "installing ${missing[*]}" >&2
    # Wait for another install to finish instead of failing on the dpkg lock.
    local lock=(-o DPkg::Lock::Timeout=600)
    apt-get "${lock[@]}" update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
}

# A virtualenv at .venv with the package installed (editable) with EXTRAS.
make_venv() {
    local extras=${1:-}
    local python=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}" 2>&1 \
        | grep -v "^WARNING: Location" >&2 || true
    .venv/bin/python -c "import reconciler" 
}

# Does the daemon at $1 offer the runtime $2?
docker_offers() {
    docker --host "$1" info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}' 2>/dev/null \
        | tr ' ' '\n' | grep -qx "$2"
}

# Does the daemon at $1 (or the default socket) answer?
docker_answers() {
    if [ -n "${1:-}" ]; then
        docker --host "$1" version >/dev/null 2>&1
    else
        docker version >/dev/null 2>&1
    fi
}

# The daemon setup.sh started and left running, if it still answers.
setup_daemon() {
    local dir=.run/docker
    if [ -f "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null \
        && docker_answers "unix://$(realpath "$dir")/docker.sock"; then
        echo "unix://$(realpath "$dir")/docker.sock"
    fi
}

# Does the CRI runtime at $1 (unix:///path/containerd.sock) answer? Checks the
# socket first: ctr waits 10 s for one that does not exist.
cri_answers() {
    local sock=${1#unix://}
    [ -n "$sock" ] && [ -S "$sock" ] \
        && ctr --address "$sock" --connect-timeout 2s version >/dev/null 2>&1
}

# busybox_root DIR: the root of the test images, from Debian's static busybox:
# busybox and its applets, /etc/passwd and group, /www/index.html for httpd,
# and /pause (waits forever, exits on SIGTERM) for the infra image.
busybox_root() {
    local root=$1 busybox=/bin/busybox applet
    [ -x "$busybox" ] || busybox=/usr/bin/busybox
    if ! "$busybox" --list >/dev/null 2>&1; then
        echo "busybox-static is not installed (apt-get install busybox-static)" >&2
        return 1
    fi
    mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/www"
    cp "$busybox" "$root/bin/busybox"
    for applet in $("$busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    echo 'hello from reconciler' >"$root/www/index.html"
    printf '#!/bin/sh\ntrap "exit 0" TERM INT\nwhile :; do sleep 3600 & wait $!; done\n' >"$root/pause"
    chmod +x "$root/pause"
}
