#!/usr/bin/env bash
# Sets up this machine and runs every Augur test: formatting, lints, unit,
# integration and end-to-end tests (real eBPF, SQLite, gRPC, HTTP and Go's
# pprof). Run as root on Debian 12 with rustup; as root, tests that need a
# capability fail instead of skipping (AUGUR_REQUIRE_ALL=1).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_packages "${BUILD_PACKAGES[@]}" g++ golang-go ca-certificates debuginfod binutils systemd python3 clickhouse-server chromium chromium-driver musl-tools openjdk-17-jdk-headless
# py-spy, the ground truth for Python frames, from PyPI into the python3 on PATH.
if ! command -v py-spy >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check py-spy
fi
# prometheus_client's strict OpenMetrics parser reads /metrics; PyYAML reads
# the Kubernetes manifests.
if ! python3 -c "import prometheus_client.openmetrics.parser, yaml" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check prometheus-client PyYAML
fi
# The Pyroscope SDKs the push tests drive (suite::pyroscope): pyroscope-io
# into the python3 on PATH, @pyroscope/nodejs into a cached folder the test
# points NODE_PATH at.
if ! python3 -c 'import pyroscope' >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check pyroscope-io
fi
pyroscope_node=/var/cache/augur-tests/pyroscope-node
if [ ! -d "$pyroscope_node/node_modules/@pyroscope/nodejs" ]; then
    mkdir -p "$pyroscope_node"
    (cd "$pyroscope_node" && npm install --no-audit --no-fund --silent @pyroscope/nodejs)
fi
# bcc's memleak, the ground truth for the memory profile (suite::memory),
# compiles its programs against kernel headers at /lib/modules/$(uname -r)/
# build. A kernel without a headers package (a VM's own build) borrows
# Debian's: its uprobe mode needs no more than their definitions.
install_packages bpfcc-tools linux-headers-amd64
modules="/lib/modules/$(uname -r)"
if [ ! -e "$modules/build" ]; then
    headers="$(ls -d /usr/src/linux-headers-*-amd64 | sort -V | tail -n 1)"
    mkdir -p "$modules"
    ln -sfn "$headers" "$modules/build"
    ln -sfn "${headers%-amd64}-common" "$modules/source"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

if [ "$(id -u)" -eq 0 ]; then
    export AUGUR_REQUIRE_ALL="${AUGUR_REQUIRE_ALL:-1}"
fi

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo build"
cargo build --workspace --all-targets --locked
echo "== no-op build rebuilds nothing"
if cargo build --workspace --all-targets --locked 2>&1 | grep -E '^\s+(Compiling|Running) '; then
    echo "a no-op cargo build rebuilt something: a build script reruns needlessly" >&2
    exit 1
fi
echo "== cargo test"
# The output is long; on failure, each failing test's panic is repeated at
# the end, where a reader of a truncated CI log looks.
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
if ! cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$test_log"; then
    echo "== failing tests, their panics repeated" >&2
    grep -E -A 14 "^---- .* stdout ----$|panicked at" "$test_log" | grep -v -E "^\S*\[2m|^\s*$" | tail -n 200 >&2
    exit 1
fi
echo "== fuzzing"
scripts/fuzz.sh
