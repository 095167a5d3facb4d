#!/bin/sh
# Runs the official Engine.IO v4 and Socket.IO v5 conformance suites against
# `siolua run tests/conformance` on port 3000 (the port the suites hard-code).
#
#   tests/conformance/run-suites.sh SUITES_DIR
#
# SUITES_DIR holds docs/engine.io-protocol/v4-test-suite and
# docs/socket.io-protocol/v5-test-suite with node_modules installed (see
# README.md). Prints one "N passing, M failing" line per suite and exits 0
# only when both suites pass completely. SIOLUA_BIN picks the binary
# (default build/siolua); SUITE_LOG_DIR keeps the full outputs (default: a
# temporary directory, removed at exit).
set -eu

usage() { echo "usage: $0 SUITES_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
suites=$(cd "$1" && pwd) || usage
bin=${SIOLUA_BIN:-$root/build/siolua}
eio_suite=$suites/docs/engine.io-protocol/v4-test-suite
sio_suite=$suites/docs/socket.io-protocol/v5-test-suite

for d in "$eio_suite" "$sio_suite"; do
  if [ ! -f "$d/test-suite.js" ] || [ ! -x "$d/node_modules/.bin/mocha" ]; then
    echo "$d: no test-suite.js or no node_modules (run npm install there)" >&2
    exit 2
  fi
done
[ -x "$bin" ] || { echo "$bin: not built" >&2; exit 2; }

if [ -n "${SUITE_LOG_DIR:-}" ]; then
  logs=$SUITE_LOG_DIR
  mkdir -p "$logs"
else
  logs=$(mktemp -d)
fi
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [ -n "${SUITE_LOG_DIR:-}" ] || rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() {
  node -e "require('net').connect(3000,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))" 2>/dev/null
}
if port_open; then
  echo "port 3000 is already in use: stop whatever listens there first" >&2
  exit 1
fi

# The suites talk to localhost:3000; bind 127.0.0.1 (Node falls back from
# ::1 to it).
"$bin" run "$here" --port 3000 --host 127.0.0.1 --log-level warn >"$logs/server.log" 2>&1 &
server_pid=$!
# The server logs "listening on" at info level, so probe the port instead.
i=0
until port_open; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
    echo "siolua did not start listening on port 3000:" >&2
    cat "$logs/server.log" >&2
    exit 1
  fi
  sleep 0.05
done

# Runs one suite; prints "<name>: N passing, M failing" and returns 0 when
# nothing failed.
run_suite() {
  name=$1 dir=$2 out=$logs/$1.log
  (cd "$dir" && ./node_modules/.bin/mocha --reporter spec test-suite.js) >"$out" 2>&1 || true
  passing=$(sed -n 's/^ *\([0-9][0-9]*\) passing.*/\1/p' "$out" | tail -n 1)
  failing=$(sed -n 's/^ *\([0-9][0-9]*\) failing.*/\1/p' "$out" | tail -n 1)
  echo "$name: ${passing:-0} passing, ${failing:-0} failing"
  if [ "${failing:-0}" != 0 ] || [ -z "$passing" ]; then
    # Show which tests failed (mocha's summary section).
    sed -n '/^ *[0-9][0-9]* failing/,$p' "$out" | head -n 80
    return 1
  fi
}

rc=0
run_suite engine.io-v4 "$eio_suite" || rc=1
run_suite socket.io-v5 "$sio_suite" || rc=1
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "siolua exited during the run:" >&2
  tail -n 40 "$logs/server.log" >&2
  rc=1
fi
exit $rc
