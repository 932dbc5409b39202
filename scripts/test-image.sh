#!/usr/bin/env bash
# Build the local images the tests and examples use, from Debian's static
# busybox, with `docker import`: no registry is needed (none is reachable here).
#   local/busybox:test  busybox and its applets; /www/index.html for httpd
#   local/pause:test    an infra image: waits forever, exits on SIGTERM
# Usage: scripts/test-image.sh        (DOCKER_HOST selects the daemon)
set -euo pipefail
if docker image inspect local/busybox:test local/pause:test >/dev/null 2>&1; then
    exit 0
fi
busybox=/bin/busybox
[ -x "$busybox" ] || busybox=/usr/bin/busybox
if ! "$busybox" --list >/dev/null 2>&1; then
    echo "busybox-static is not installed (apt-get install busybox-static)" >&2
    exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/www"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 'hello from reconciler' >"$root/www/index.html"
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["sh"]' \
    - local/busybox:test >/dev/null
printf '#!/bin/sh\ntrap "exit 0" TERM INT\nwhile :; do sleep 3600 & wait $!; done\n' >"$root/pause"
chmod +x "$root/pause"
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'ENTRYPOINT ["/pause"]' \
    - local/pause:test >/dev/null
echo "imported local/busybox:test and local/pause:test"
