#!/usr/bin/env bash
# Import the test images into a private containerd's k8s.io namespace (the one
# its CRI plugin uses), built from Debian's static busybox with no registry and
# no Docker daemon: each is an OCI image layout written by hand (one
# uncompressed layer, a config, a manifest, an index naming the image) and
# imported with `ctr images import`.
#   docker.io/local/busybox:test  busybox and its applets; /www/index.html for httpd
#   docker.io/local/pause:test    the sandbox_image: waits forever, exits on SIGTERM
# Usage: scripts/cri-images.sh unix:///path/to/containerd.sock
set -euo pipefail
source "$(dirname "$0")/lib.sh"
endpoint=${1:-${CONTAINER_RUNTIME_ENDPOINT:?usage: cri-images.sh unix:///path/to/containerd.sock}}
sock=${endpoint#unix://}
# ctr waits 10 s for a socket that does not exist: check it first, bound the wait.
if [ ! -S "$sock" ]; then
    echo "no containerd socket at $sock (scripts/containerd.sh start DIR)" >&2
    exit 1
fi
ctr_() { ctr --address "$sock" --connect-timeout 2s -n k8s.io "$@"; }

if ctr_ images check 2>/dev/null | grep -q '^docker.io/local/busybox:test ' \
    && ctr_ images check 2>/dev/null | grep -q '^docker.io/local/pause:test '; then
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
busybox_root "$root"
# One layer for both images; fixed owner and times so it hashes the same every run.
layer="$work/layer.tar"
tar -C "$root" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf "$layer" .

# blob FILE: store FILE under blobs/sha256 of LAYOUT, print "sha256:HEX SIZE"
blob() {
    local layout=$1 file=$2 hex size
    hex=$(sha256sum "$file" | cut -d' ' -f1)
    size=$(stat -c %s "$file")
    mkdir -p "$layout/blobs/sha256"
    cp "$file" "$layout/blobs/sha256/$hex"
    echo "sha256:$hex $size"
}

# image NAME PROCESS-CONFIG: an OCI layout tar of NAME, imported into k8s.io
image() {
    local name=$1 process=$2 layout="$work/${1//[\/:]/_}"
    local layer_digest layer_size config_digest config_size manifest_digest manifest_size
    mkdir -p "$layout"
    read -r layer_digest layer_size < <(blob "$layout" "$layer")
    cat >"$work/config.json" <<EOF
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],$process},"rootfs":{"type":"layers","diff_ids":["$layer_digest"]}}
EOF
    read -r config_digest config_size < <(blob "$layout" "$work/config.json")
    cat >"$work/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config_digest","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$layer_digest","size":$layer_size}]}
EOF
    read -r manifest_digest manifest_size < <(blob "$layout" "$work/manifest.json")
    cat >"$layout/index.json" <<EOF
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$manifest_digest","size":$manifest_size,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"$name","org.opencontainers.image.ref.name":"${name##*:}"}}]}
EOF
    echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
    tar -C "$layout" -cf "$layout.tar" .
    ctr_ images import "$layout.tar" >/dev/null
}

image docker.io/local/busybox:test '"Cmd":["sh"]'
image docker.io/local/pause:test '"Entrypoint":["/pause"]'
echo "imported docker.io/local/busybox:test and docker.io/local/pause:test into k8s.io"
