#!/usr/bin/env bash
# Runs every test: Rust tests under the server and the browser feature sets, then the
# Playwright suite in headless Chromium against the real built server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

# cargo-leptos builds with this flag in debug mode; using it here too lets the test build reuse
# the compiled dependencies instead of building everything a second time.
export RUSTFLAGS="${RUSTFLAGS:-} --cfg erase_components"

echo "== cargo test (server: --features ssr)"
cargo test --features ssr
echo "== cargo test (browser: --features hydrate)"
cargo test --features hydrate --lib
echo "== build the app (cargo leptos build)"
cargo leptos build
echo "== Playwright in headless Chromium"
(cd end2end && npx playwright test)
