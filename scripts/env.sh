# Sourced by the other scripts: tool locations shared by setup, run and test.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# wasm-opt comes from the npm package `binaryen` installed in end2end/. It must come before any
# system wasm-opt: Debian's binaryen (wasm-opt 108) produces release bundles that fail to hydrate.
export PATH="$ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Playwright drives Debian's Chromium; it must never try to download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
# Every release build splits the browser bundle (the admin and status pages are lazy routes, see
# src/app.rs, whose code comes in chunks loaded when such a page is shown) and precompresses it:
# the server sends the .br beside each file instead of compressing per request (the .gz the
# build also leaves is not used, see src/server.rs).
# shellcheck disable=SC2034 # used by the scripts that source this file
RELEASE_BUILD=(--release --split --precompress)
# A set RUSTFLAGS replaces the flags in .cargo/config.toml; keep the one every build needs.
if [ -n "${RUSTFLAGS+set}" ] && [[ "$RUSTFLAGS" != *erase_components* ]]; then
  export RUSTFLAGS="$RUSTFLAGS --cfg erase_components"
fi
