#!/usr/bin/env bash
# Line coverage of the code under fuzz: builds the targets' replay binaries
# (the gcc-style build, no libFuzzer) with clang's source-based coverage in
# build-cov/, runs each over a corpus, and prints llvm-cov's report for the
# files each target is about. libFuzzer's cov:/ft: count edges and
# features; this says which lines of http.c, ws_frame.c, ... were reached.
#
#   tests/fuzz/coverage.sh [CORPUS_ROOT]
#
# CORPUS_ROOT holds one directory per target (default: the committed
# corpus, tests/fuzz/corpus; after a long run: build-fuzz/longrun/corpus,
# the committed corpus is then added).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:-tests/fuzz/corpus}
dir=${FUZZ_COV_DIR:-build-cov}
ver=14
profdata=$(command -v llvm-profdata || echo /usr/bin/llvm-profdata-$ver)
cov=$(command -v llvm-cov || echo /usr/bin/llvm-cov-$ver)

CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DSIOLUA_FUZZ=OFF \
  -DCMAKE_C_FLAGS="-fprofile-instr-generate -fcoverage-mapping" >/dev/null
cmake --build "$dir" -j"$(nproc)" --target fuzz >/dev/null
targets=$(find "$dir/tests/fuzz" -maxdepth 1 -type f -executable -name 'fuzz_*' -printf '%f\n' |
          sed 's/^fuzz_//' | sort)

# The sources a target is about (its report lists only these; for jwt the
# Lua of jwt.lua counts as libFuzzer coverage, not here).
files_of() {
  case $1 in
    http) echo src/net/http.c src/net/conn.c ;;
    ws_frame) echo src/net/ws_frame.c ;;
    eio_payload) echo src/eio/eio_packet.c src/base/buf.c ;;
    sio_packet) echo src/sio/sio_packet.c src/eio/eio_packet.c ;;
    ws_deflate) echo src/net/ws_deflate.c src/net/deflate.c ;;
    lua_json) echo src/lua/lua_json.c src/base/json_text.c ;;
    lua_json_encode) echo src/lua/lua_json.c ;;
    mpjson|msgpack) echo src/sio/mpjson.c src/cluster/sio_cluster.c ;;
    sio_packet_msgpack) echo src/sio/sio_packet_msgpack.c src/sio/mpjson.c ;;
    resp) echo src/cluster/redis_reader.c ;;
    redis_url) echo src/cluster/redis_url.c ;;
    jwt) echo src/lua/lua_crypto.c ;;
  esac
}

rm -rf "$dir/profiles"
mkdir -p "$dir/profiles"
for t in $targets; do
  dirs=("tests/fuzz/corpus/$t")
  [ "$root" != tests/fuzz/corpus ] && [ -d "$root/$t" ] && dirs+=("$root/$t")
  LLVM_PROFILE_FILE="$dir/profiles/$t.profraw" "$dir/tests/fuzz/fuzz_$t" "${dirs[@]}" >/dev/null
  "$profdata" merge -sparse "$dir/profiles/$t.profraw" -o "$dir/profiles/$t.profdata"
  echo "== fuzz_$t"
  # llvm-cov's report of every file the binary holds, cut to the target's
  # own: lines (count, covered) and branches.
  report=$("$cov" report "$dir/tests/fuzz/fuzz_$t" -instr-profile="$dir/profiles/$t.profdata")
  for f in $(files_of "$t"); do
    echo "$report" | awk -v f="$f" 'index($1, f) && index($1, f) + length(f) - 1 == length($1) {
      printf "  %-28s lines %5d, %6.2f%% covered; branches %5d, %s covered\n", f, $8, $10, $11, $13 }'
  done
done
