#!/usr/bin/env bash
# Builds (if needed) and serves classpoints on http://127.0.0.1:3000 with its SQLite database
# under data/. Settings come from the environment; see README.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
exec cargo leptos serve "${RELEASE_BUILD[@]}"
