#!/usr/bin/env bash
# The benchmarks: builds the release server and browser bundle, then runs the HTTP benchmark
# (load, verification, SQLite ceiling, board render, RSS, WASM size) and the ledger benchmark
# (writer vs plain loop, consistency check at 10 000 students / 1 000 000 rows). They print
# figures and assert nothing about speed. Sizes: BENCH_CLIENTS, BENCH_SECONDS, BENCH_STUDENTS
# (HTTP), BENCH_AWARDS, BENCH_ROWS (ledger); BENCH_URL targets a running server instead.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
echo "== release build (server and size-optimised WASM bundle)"
cargo leptos build --release
echo "== HTTP benchmark"
cargo bench --features ssr --bench http
echo "== ledger benchmark"
cargo bench --features ssr --bench ledger
