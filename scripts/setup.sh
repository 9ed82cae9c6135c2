#!/usr/bin/env bash
# Installs what this machine lacks to build, run and test classpoints, and nothing it already
# has, so re-running it on a ready machine takes a second. Works offline except for crates.io,
# npm and Debian's package archive.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

CARGO_LEPTOS_VERSION=0.3.6 # newer releases need a rustc newer than this machine's 1.95
# The wasm-bindgen CLI must equal the wasm-bindgen crate pinned in Cargo.toml.
WASM_BINDGEN_VERSION="$(sed -nE 's/^wasm-bindgen = "=([0-9.]+)"/\1/p' Cargo.toml)"
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "setup: Cargo.toml must pin wasm-bindgen with '='" >&2; exit 1; }

step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(cargo leptos --version 2>/dev/null || true)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
  step "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 11 minutes on 2 cores)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
  # Not --locked: its lockfile pins a webpki-roots release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# Chromium, a CJK font so students' Chinese names render in browser tests and screenshots,
# sqlite3, which the monitor's browser test uses to corrupt a balance behind the app, and
# strace, which the reliability suite runs the server under to see each answer wait for its
# commit's fsync.
missing_packages=()
[ -x "$CHROMIUM_PATH" ] || missing_packages+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing_packages+=(fonts-wqy-microhei)
command -v sqlite3 >/dev/null || missing_packages+=(sqlite3)
command -v strace >/dev/null || missing_packages+=(strace)
if [ ${#missing_packages[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_packages[@]}"
fi

# npm packages (Playwright, binaryen's wasm-opt) from the committed lockfile; skipped when
# node_modules already matches it.
if ! cmp -s end2end/package-lock.json end2end/node_modules/.package-lock.json.installed 2>/dev/null; then
  step "installing end2end npm packages"
  (cd end2end && npm ci --no-audit --no-fund)
  cp end2end/package-lock.json end2end/node_modules/.package-lock.json.installed
fi

# The reference OpenMetrics parser (Prometheus's own Python client) in a virtualenv under
# end2end/: the browser tests check /metrics with it.
PROMETHEUS_CLIENT_VERSION=0.23.1
if [ "$(end2end/.venv/bin/pip show prometheus-client 2>/dev/null | sed -n 's/^Version: //p')" != "$PROMETHEUS_CLIENT_VERSION" ]; then
  step "installing prometheus-client $PROMETHEUS_CLIENT_VERSION (Python) for the metrics test"
  python3 -m venv end2end/.venv
  end2end/.venv/bin/pip install --quiet "prometheus-client==$PROMETHEUS_CLIENT_VERSION"
fi

case "$(command -v wasm-opt)" in
  "$ROOT/end2end/node_modules/.bin/wasm-opt") ;;
  *) echo "setup: wasm-opt resolves to $(command -v wasm-opt), expected end2end's binaryen" >&2; exit 1 ;;
esac
