#!/usr/bin/env bash
# Runs every test: Rust tests under the server and the browser feature sets, then the
# Playwright suite in headless Chromium against the real built server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

echo "== cargo test (server: --features ssr)"
cargo test --features ssr
echo "== cargo test (browser: --features hydrate)"
cargo test --features hydrate --lib
# The browser tests run the release build: the server and size-optimised bundle `make run`
# serves.
echo "== build the app (cargo leptos build ${RELEASE_BUILD[*]})"
cargo leptos build "${RELEASE_BUILD[@]}"
echo "== Playwright in headless Chromium"
(cd end2end && npx playwright test)
