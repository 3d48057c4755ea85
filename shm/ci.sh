#!/usr/bin/env bash
# Runs every check of the ppsd-shm crate: unit and integration tests (C program, Python binding,
# multi-process stress test, time-namespace test), the loom model, Miri when installed, and the
# benches in criterion's quick mode. Usage: shm/ci.sh [--full] [--skip-unit]
#   --full       stress test for 10 s instead of 1 s, benches in full mode.
#   --skip-unit  leave out `cargo test -p ppsd-shm` (scripts/test has just run it).
# Needs: cargo, cc, pkg-config, python3, unshare (util-linux), root for the time namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

full=0
unit=1
for arg in "$@"; do
    case "$arg" in
        --full) full=1 ;;
        --skip-unit) unit=0 ;;
        *) echo "usage: shm/ci.sh [--full] [--skip-unit]" >&2; exit 2 ;;
    esac
done

if [[ $unit == 1 ]]; then
    echo "== ppsd-shm: cargo test"
    cargo test -p ppsd-shm
fi

echo "== ppsd-shm: multi-process stress test (release, $([[ $full == 1 ]] && echo 10 || echo 1) s)"
PPSD_SHM_STRESS_SECS=$([[ $full == 1 ]] && echo 10 || echo 1) \
    cargo test -p ppsd-shm --release --test stress

echo "== ppsd-shm: loom model of the seqlock"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p ppsd-shm --release --test loom

echo "== ppsd-shm: Miri (unit tests)"
if cargo +nightly miri --version >/dev/null 2>&1; then
    MIRIFLAGS=-Zmiri-disable-isolation cargo +nightly miri test -p ppsd-shm --lib
else
    echo "miri: not installed (rustup component add miri --toolchain nightly); skipped"
fi

echo "== ppsd-shm: benches"
if [[ $full == 1 ]]; then
    cargo bench -p ppsd-shm --bench reader
else
    cargo bench -p ppsd-shm --bench reader -- --quick
fi
