#!/usr/bin/env bash
# The first command of the README: on a fresh Debian machine, install
# reconciler, make a Docker daemon reachable, and converge manifests/examples.
#
# Uses $DOCKER_HOST or the default socket when a daemon answers there;
# otherwise installs Debian's docker.io and runsc and starts a private daemon
# under .run/docker (stop it with: scripts/dockerd.sh stop .run/docker).
# What it installs is SETUP_PACKAGES and DAEMON_PACKAGES in scripts/lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_packages "${SETUP_PACKAGES[@]}"
make_venv

if [ -n "${DOCKER_HOST:-}" ] && docker_answers "$DOCKER_HOST"; then
    echo "using the Docker daemon at $DOCKER_HOST"
elif [ -z "${DOCKER_HOST:-}" ] && command -v docker >/dev/null && docker_answers; then
    echo "using the Docker daemon at the default socket"
else
    need_packages "${DAEMON_PACKAGES[@]}"
    DOCKER_HOST=$(scripts/dockerd.sh start .run/docker)
    export DOCKER_HOST
    echo "started a private Docker daemon at $DOCKER_HOST"
fi

# No registry is reachable here: the examples use images made from busybox-static.
scripts/test-image.sh
export RECONCILER_INFRA_IMAGE=${RECONCILER_INFRA_IMAGE:-local/pause:test}

.venv/bin/reconciler validate -f manifests/examples
time .venv/bin/reconciler apply -f manifests/examples
.venv/bin/reconciler get

cat <<EOT

reconciler is installed in .venv and manifests/examples are running. To go on:
    export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock} RECONCILER_INFRA_IMAGE=$RECONCILER_INFRA_IMAGE
    .venv/bin/reconciler diff -f manifests/examples
    curl http://127.0.0.1:8080/
EOT
