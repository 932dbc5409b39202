#!/usr/bin/env bash
# Build the local images the tests and examples use, from Debian's static
# busybox, with `docker import`: no registry is needed (none is reachable here).
#   local/busybox:test  busybox and its applets; /www/index.html for httpd
#   local/pause:test    an infra image: waits forever, exits on SIGTERM
# Usage: scripts/test-image.sh        (DOCKER_HOST selects the daemon)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if docker image inspect local/busybox:test local/pause:test >/dev/null 2>&1; then
    exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
busybox_root "$root"
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["sh"]' \
    - local/busybox:test >/dev/null
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'ENTRYPOINT ["/pause"]' \
    - local/pause:test >/dev/null
echo "imported local/busybox:test and local/pause:test"
