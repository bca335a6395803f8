# Shared helpers for Augur's setup scripts (sourced, not run).

# Installs the Debian packages given as arguments that are not installed yet.
install_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "augur: missing packages: ${missing[*]}; run as root or install them" >&2
        return 1
    fi
    echo "augur: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Packages needed to build Augur: clang and libelf for the BPF programs
# (libbpf-sys builds libbpf from source), a C toolchain for bundled SQLite/zstd.
BUILD_PACKAGES=(clang libelf-dev zlib1g-dev pkg-config make gcc libc6-dev)
