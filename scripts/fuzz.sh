#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a bounded time
# over its corpus in fuzz/corpus/ (see docs/fuzzing.md). Any crash, timeout
# or oversized allocation fails the script, which prints the reproducer.
#
#   scripts/fuzz.sh                 every target, AUGUR_FUZZ_SECONDS each (15)
#   scripts/fuzz.sh pprof_decode    only the targets named
#
# Works with the stable toolchain (no sanitizer: the fuzzed code is safe
# Rust, and libFuzzer's coverage flags are stable). AUGUR_FUZZ_TOOLCHAIN=nightly
# AUGUR_FUZZ_SANITIZER=address builds with AddressSanitizer instead.
# New inputs found go to a temporary directory: the committed corpus changes
# only through `cargo fuzz cmin` by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
# libfuzzer-sys compiles libFuzzer's C++ sources.
install_packages "${BUILD_PACKAGES[@]}" g++

SECONDS_EACH="${AUGUR_FUZZ_SECONDS:-15}"
TOOLCHAIN="${AUGUR_FUZZ_TOOLCHAIN:-stable}"
SANITIZER="${AUGUR_FUZZ_SANITIZER:-none}"
CARGO_FUZZ_VERSION=0.13.2
TRIPLE=x86_64-unknown-linux-gnu

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets ($TOOLCHAIN, sanitizer $SANITIZER)"
build_start=$(date +%s)
(cd fuzz && cargo "+$TOOLCHAIN" fuzz build --release --debug-assertions \
    --sanitizer "$SANITIZER" --target "$TRIPLE")
echo "fuzz build: $(($(date +%s) - build_start)) s"

failed=()
summary=()
for target in "${targets[@]}"; do
    binary="fuzz/target/$TRIPLE/release/$target"
    artifacts="fuzz/artifacts/$target"
    work=$(mktemp -d)
    log="$work/log"
    mkdir -p "$artifacts"
    echo "== fuzzing $target for ${SECONDS_EACH}s"
    # A 10-s input is a hang; one allocation over 512 MiB is unbounded
    # memory (every decoder is fuzzed with limits far below that).
    set +e
    "$binary" "$work" "fuzz/corpus/$target" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 &
    pid=$!
    wait "$pid"
    status=$?
    set -e
    rm -rf "/dev/shm/augur-fuzz-$pid" "${TMPDIR:-/tmp}/augur-fuzz-$pid"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    summary+=("$(printf '%-18s %12s runs %9s/s' "$target" "${runs:-?}" "${rate:-?}")")
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "FUZZ FAILURE in $target: reproducer ${reproducer:-not written} (exit $status)" >&2
        echo "  reproduce: (cd fuzz && cargo +$TOOLCHAIN fuzz run --sanitizer $SANITIZER $target ${reproducer#fuzz/})" >&2
        failed+=("$target")
    fi
    rm -rf "$work"
done

echo "== fuzzing summary (${SECONDS_EACH}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
