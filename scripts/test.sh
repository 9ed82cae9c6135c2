#!/usr/bin/env bash
# Runs every test: Rust tests under the server and the browser feature sets, then the
# Playwright suite in headless Chromium against the real built server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

# cargo-leptos builds with this flag in debug mode; using it here too lets the test build reuse
# the compiled dependencies instead of building everything a second time.
BASE_RUSTFLAGS="${RUSTFLAGS:-}"
export RUSTFLAGS="$BASE_RUSTFLAGS --cfg erase_components"

echo "== cargo test (server: --features ssr)"
cargo test --features ssr
echo "== cargo test (browser: --features hydrate)"
cargo test --features hydrate --lib
# The browser tests run the release build: the server and size-optimised bundle `make run`
# serves (release builds keep full view types, so this also proves they still compile).
echo "== build the app (cargo leptos build --release)"
RUSTFLAGS="$BASE_RUSTFLAGS" cargo leptos build --release
echo "== Playwright in headless Chromium"
(cd end2end && npx playwright test)
