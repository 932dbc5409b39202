# Shared by setup.sh, test.sh and .ci/run: source it, don't run it.

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
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
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

# Does the daemon at $1 (or the default socket) answer?
docker_answers() {
    if [ -n "${1:-}" ]; then
        docker --host "$1" version >/dev/null 2>&1
    else
        docker version >/dev/null 2>&1
    fi
}
