#!/usr/bin/env bash
# Smoke check of the load generator against siolua: builds both, starts
# bench/apps/echo (with a short heartbeat so pings happen), runs every
# scenario small and checks the JSON reports: every connection made, no
# errors, deliveries and acks as expected. No timing is asserted.
#   bench/loadgen/smoke.sh        (from anywhere; uses build/ and build-loadgen/)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh >/dev/null
cmake -S bench/loadgen -B build-loadgen >/dev/null
cmake --build build-loadgen -j"$(nproc)" >/dev/null
build-loadgen/lg_unit

tmp=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"${BUILD_DIR:-build}/siolua" run bench/apps/echo --port 0 --host 127.0.0.1 --no-reload \
    --set pingInterval=300 --set pingTimeout=1000 2>"$tmp/server.log" &
server=$!
port=""
for _ in $(seq 100); do
    port=$(grep -ao 'listening on http://[^ ]*' "$tmp/server.log" | sed 's/.*://' || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/server.log"; echo "smoke: siolua did not start"; exit 1; }

passed=0
failed=0
# check NAME 'JS CONDITION ON r' LOADGEN-ARGS...: runs the generator and
# evaluates the condition on its report.
check() {
    local name=$1 cond=$2
    shift 2
    if ! build-loadgen/loadgen -p "$port" --server-pid "$server" -q "$@" >"$tmp/out.json" 2>"$tmp/err.txt"; then
        echo "not ok - $name: loadgen failed"; cat "$tmp/err.txt"; failed=$((failed + 1)); return
    fi
    if node -e '
        const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        if (!new Function("r", `return (${process.argv[2]});`)(r)) {
            console.error(JSON.stringify(r));
            process.exit(1);
        }' "$tmp/out.json" "$cond"; then
        echo "ok - $name"; passed=$((passed + 1))
    else
        echo "not ok - $name: $cond"; cat "$tmp/err.txt"; failed=$((failed + 1))
    fi
}
clean='r.failed === 0 && r.dropped === 0 && Object.keys(r.errors).length === 0 && r.children_failed === 0'

check "idle holds every connection and answers pings" \
    "$clean && r.connected === 300 && r.idle.held === 300 && r.pings > 0 && r.server.ok" \
    -s idle -n 300 --hold 1.5 --settle 0.3
check "idle over 2 generator processes" \
    "$clean && r.procs === 2 && r.connected === 300 && r.pings > 0" \
    -s idle -n 300 -P 2 --hold 1 --settle 0.3
check "fanout delivers every broadcast to every client" \
    "$clean && r.connected === 100 && r.fanout.deliveries > 0 && r.fanout.deliveries === r.fanout.expected && r.fanout.stalls === 0" \
    -s fanout -n 100 -d 1 -w 0.3 --settle 0.3
check "echo gets an ack for every message" \
    "$clean && r.connected === 50 && r.echo.sent > 0 && r.echo.acked === r.echo.sent && r.echo.rtt_us.p50 > 0" \
    -s echo -n 50 -r 500 -d 1 -w 0.3 --settle 0.3
check "churn connects and disconnects" \
    "$clean && r.churn.connects > 0 && r.churn.connects === r.churn.started" \
    -s churn -n 50 -r 100 -d 1
check "polling echo gets an ack for every message" \
    "$clean && r.transport === 'polling' && r.connected === 50 && r.echo.sent > 0 && r.echo.acked === r.echo.sent" \
    -s polling -n 50 -r 300 -d 1 -w 0.3 --settle 0.3
check "polling fanout" \
    "$clean && r.connected === 30 && r.fanout.deliveries > 0 && r.fanout.deliveries === r.fanout.expected" \
    -s fanout -t polling -n 30 -d 1 -w 0.3 --settle 0.3
check "a refused namespace is counted as sio_connect_error" \
    "r.connected === 0 && r.failed === 20 && r.errors.sio_connect_error === 20" \
    -s echo --nsp /nowhere -n 20 -d 0.2 -w 0 --settle 0

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
