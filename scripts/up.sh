#!/usr/bin/env bash
# Sets up this machine and starts Augur on it: agent, aggregator and web UI in
# one process, SQLite under ./augur-data. Run as root on Debian 12 with rustup.
# Extra arguments go to `augur up` (e.g. --http 0.0.0.0:7080).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_packages "${BUILD_PACKAGES[@]}"
cargo build --release --locked -p augur
exec target/release/augur up "$@"
