#!/usr/bin/env bash
# Builds Augur's Debian package from a binary already built, with dpkg-deb
# alone (no cargo-deb): /usr/bin/augur, the agent's and the server's systemd
# units, /etc/augur/agent.toml (a conffile), the maintainer scripts in
# deploy/debian and the docs. Prints the path of the .deb.
#
#   scripts/package-deb.sh [--binary PATH] [--out DIR]
#
# The binary defaults to target/release/augur, else target/debug/augur; its
# debug sections are left out (the symbol table stays, so Augur's own
# frames keep their names). The package goes to DIR (target/debian).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
out="target/debian"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package-deb: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    for candidate in target/release/augur target/debug/augur; do
        if [ -x "$candidate" ]; then binary="$candidate"; break; fi
    done
fi
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    echo "package-deb: no augur binary; build one (cargo build --release -p augur) or pass --binary" >&2
    exit 1
fi

# The shared libraries the binary may link, and the packages giving them;
# a new one fails the build here rather than the install on a user's host.
declare -A provider=(
    [libc.so.6]="libc6 (>= 2.34)" [libm.so.6]="libc6 (>= 2.34)"
    [libgcc_s.so.1]="libgcc-s1" [libelf.so.1]="libelf1 (>= 0.187)"
    [libz.so.1]="zlib1g (>= 1:1.2.0)" [ld-linux-x86-64.so.2]="libc6 (>= 2.34)"
    [ld-linux-aarch64.so.1]="libc6 (>= 2.34)"
)
depends=()
for lib in $(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }'); do
    if [ -z "${provider[$lib]:-}" ]; then
        echo "package-deb: $binary needs $lib, which no package dependency covers; add it to this script" >&2
        exit 1
    fi
    depends+=("${provider[$lib]}")
done
depends_line="$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, - | sed 's/,/, /g')"

version="$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/augur"

install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
    "$root/etc/augur" "$root/usr/share/doc/augur"
objcopy --strip-debug "$binary" "$root/usr/bin/augur"
chmod 0755 "$root/usr/bin/augur"
install -m 0644 deploy/systemd/augur-agent.service deploy/systemd/augur-server.service \
    "$root/lib/systemd/system/"
install -m 0644 deploy/debian/agent.toml "$root/etc/augur/agent.toml"
install -m 0644 README.md docs/agent.example.toml docs/server.example.toml deploy/debian/copyright \
    "$root/usr/share/doc/augur/"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$root/DEBIAN/"
echo /etc/augur/agent.toml >"$root/DEBIAN/conffiles"
size_kib="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size_kib/" \
    -e "s/@DEPENDS@/$depends_line/" deploy/debian/control >"$root/DEBIAN/control"
(cd "$root" && find usr lib -type f -exec md5sum {} + >DEBIAN/md5sums)

mkdir -p "$out"
deb="$out/augur_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
echo "$deb"
