#!/usr/bin/env bash
# Configures and builds siolua into DIR (default build/); extra arguments go
# to cmake (e.g. -DSIOLUA_SANITIZE=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
