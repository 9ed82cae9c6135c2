#!/usr/bin/env bash
# The benchmarks: builds the release server and browser bundle, then runs the HTTP benchmark
# (load, verification, SQLite ceiling, board render, RSS, WASM size) and the ledger benchmark
# (writer vs plain loop, consistency check at 10 000 students / 1 000 000 rows). They print
# figures and assert nothing about speed. Sizes: BENCH_CLIENTS, BENCH_SECONDS, BENCH_RUNS,
# BENCH_STUDENTS (HTTP), BENCH_AWARDS, BENCH_ROWS (ledger); BENCH_URL targets a running server
# instead, and BENCH_RANDOM_KEYS=1 sends random idempotency keys instead of ones made as the
# board makes them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
echo "== release build (server and size-optimised WASM bundle)"
cargo leptos build "${RELEASE_BUILD[@]}"
# The benchmarks build in a target directory of their own: in target/ they would share the
# server crate with the release build, which compiles it without the dev-dependencies'
# features, and each would rebuild it for the other on every run (~3 minutes each).
export CARGO_TARGET_DIR="$ROOT/target/bench"
bench=(cargo bench --features ssr)
echo "== HTTP benchmark"
"${bench[@]}" --bench http
echo "== ledger benchmark"
"${bench[@]}" --bench ledger
