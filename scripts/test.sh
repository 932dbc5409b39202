#!/usr/bin/env bash
# The second command of the README, and what CI runs: lint, type-check, check
# the layering, then every test (unit and integration) against a real daemon.
#
# Installs TEST_PACKAGES (scripts/lib.sh) when missing. Uses the daemon at
# $DOCKER_HOST when it answers (it must offer runsc), else the one setup.sh
# left running if it offers runsc; otherwise starts a private one for the run
# (on a bridge of its own) and stops it, by its pid file, on the way out. Likewise the CRI engine's
# tests use the containerd at $CONTAINER_RUNTIME_ENDPOINT when it answers, else
# a private one (scripts/containerd.sh) when containerd is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# Everything the tests need, before anything runs: as root the missing
# packages are installed; otherwise need_packages names them and this exits 1.
need_packages "${TEST_PACKAGES[@]}"

make_venv test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports

started=""
started_cri=""
cleanup() {
    if [ -n "$started" ]; then
        scripts/dockerd.sh stop "$started"
        rm -rf "$started" 2>/dev/null || true
    fi
    if [ -n "$started_cri" ]; then
        scripts/containerd.sh stop "$started_cri"
        rm -rf "$started_cri" 2>/dev/null || true
    fi
}
trap cleanup EXIT
if [ -n "${DOCKER_HOST:-}" ] && docker_answers "$DOCKER_HOST" && ! docker_offers "$DOCKER_HOST" runsc; then
    echo "the Docker daemon at $DOCKER_HOST does not offer the runsc runtime, which the tests need:" >&2
    echo "register /usr/bin/runsc in its daemon.json (runtimeArgs [\"--network=host\"]), or unset DOCKER_HOST" >&2
    echo "and test.sh starts a private daemon that does" >&2
    exit 1
fi
if { [ -z "${DOCKER_HOST:-}" ] || ! docker_answers "$DOCKER_HOST"; } && [ -n "$(setup_daemon)" ]; then
    if docker_offers "$(setup_daemon)" runsc; then
        DOCKER_HOST=$(setup_daemon)
        export DOCKER_HOST
        echo "using the Docker daemon setup.sh started at $DOCKER_HOST" >&2
    else
        echo "the daemon setup.sh started does not offer runsc; starting one for the tests" >&2
    fi
fi
if [ -z "${DOCKER_HOST:-}" ] || ! docker_answers "$DOCKER_HOST"; then
    started=$(mktemp -d /tmp/reconciler-test-docker.XXXXXX)
    DOCKER_HOST=$(scripts/dockerd.sh start "$started")
    export DOCKER_HOST
fi
scripts/test-image.sh
if { [ -z "${CONTAINER_RUNTIME_ENDPOINT:-}" ] || ! cri_answers "$CONTAINER_RUNTIME_ENDPOINT"; } \
    && command -v containerd >/dev/null; then
    started_cri=$(mktemp -d /tmp/reconciler-test-containerd.XXXXXX)
    CONTAINER_RUNTIME_ENDPOINT=$(scripts/containerd.sh start "$started_cri")
    export CONTAINER_RUNTIME_ENDPOINT
fi
if [ -n "${CONTAINER_RUNTIME_ENDPOINT:-}" ]; then
    scripts/cri-images.sh "$CONTAINER_RUNTIME_ENDPOINT"
fi

# The integration tests share the daemon; each uses its own instance label,
# so they run in parallel. An unreachable daemon fails them under CI=true.
.venv/bin/python -m pytest -n "${TEST_WORKERS:-4}" -p no:cacheprovider "$@"
