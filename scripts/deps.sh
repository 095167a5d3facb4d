#!/usr/bin/env bash
# Installs what siolua needs to build and test, and only what is missing:
# Debian packages through apt-get (skipped when all are present) and the
# npm packages of tests/ through `npm ci` (skipped when the lock is
# unchanged since the last install). Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(build-essential cmake pkg-config liblua5.4-dev lua5.4 libuv1-dev libwslay-dev
            libhiredis-dev lua-cjson lua-cjson-dev libmsgpuck-dev node-llhttp libssl-dev zlib1g-dev
            libsystemd-dev libcrypt-dev)
# nginx and haproxy run the deployment recipes of docs/deploying.md (as the
# tests' own processes: the packages start nothing here); systemd gives
# systemd-analyze, which checks the unit file; python3 holds the unix
# datagram socket of the sd_notify test (node has none); python3-socketio
# (with websocket-client and requests) is the third client the compression
# tests run; prometheus gives promtool (Prometheus's own check of the
# metrics text) and a real Prometheus server that the metrics test runs as
# its own process. clang + libclang-rt-14-dev: libFuzzer (-fsanitize=fuzzer)
# for tests/fuzz; llvm-14: llvm-symbolizer, for readable sanitizer reports.
test_pkgs=(redis-server chromium valgrind nginx haproxy systemd python3 openssl
           python3-socketio python3-websocket python3-requests prometheus
           clang libclang-rt-14-dev llvm-14)

want=("${build_pkgs[@]}" nodejs npm)
[ "${1:-}" = "--test" ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  # node and npm may come from elsewhere than Debian: accept what is on PATH.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci in DIR unless its lock is what was installed last time.
npm_ci() {
  local dir=$1 stamp=$1/node_modules/.siolua-lock
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "deps: npm ci in $dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}

# The client bundle the server serves at /socket.io/socket.io.js, and the
# Admin UI's dashboard (sio.admin.serve_ui).
if command -v npm >/dev/null; then
  npm_ci client
  npm_ci admin-ui
else
  echo "deps: npm not found: /socket.io/socket.io.js and the Admin UI will not be served" >&2
fi
[ "${1:-}" = "--test" ] && npm_ci tests
exit 0
