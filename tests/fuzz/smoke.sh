#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, build-fuzz/) and runs each for a while
# over its committed corpus, two at a time; fails on any crash, leak,
# sanitizer report, failed invariant or hang, printing the report and the
# saved input. The CI smoke run (scripts/test) is the default; a long run
# is the same with other settings (docs/fuzzing.md):
#
#   FUZZ_SECONDS   seconds per target (default 30: the issue asks ~30 s)
#   FUZZ_JOBS      targets at once (default 2: the machine has 2 cores)
#   FUZZ_TARGETS   which, e.g. "http jwt" (default: every target built)
#   FUZZ_WORK      where new corpus entries, logs and crashes go
#                  (default: a temporary directory, removed on success);
#                  a kept directory lets a long run resume where it stopped
#   FUZZ_NICE      niceness of the fuzzers (default 0; long runs: 10)
#
# The committed corpus is read, never written: new inputs go to FUZZ_WORK.
# Prints one line per target: executions, coverage (cov: edges, ft:
# features), corpus entries and bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${FUZZ_BUILD_DIR:-build-fuzz}
secs=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
nice_level=${FUZZ_NICE:-0}

CC=${FUZZ_CC:-clang} cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIOLUA_FUZZ=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target fuzz >/dev/null
# Every target the build made (tests/fuzz/CMakeLists.txt lists them).
targets=${FUZZ_TARGETS:-$(find "$dir/tests/fuzz" -maxdepth 1 -type f -executable -name 'fuzz_*' \
                           -printf '%f\n' | sed 's/^fuzz_//' | sort)}

keep=1
work=${FUZZ_WORK:-}
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/siolua-fuzz-XXXXXX)
  keep=0
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)

# The dictionary of a target, if it has one (the JSON codecs share one, so
# do the MessagePack ones).
dict_of() {
  case $1 in
    lua_json|mpjson) echo tests/fuzz/dict/json.dict ;;
    sio_packet_msgpack) echo tests/fuzz/dict/msgpack.dict ;;
    *) [ -f "tests/fuzz/dict/$1.dict" ] && echo "tests/fuzz/dict/$1.dict" ;;
  esac
}

# Runs one target; its exit code goes to $work/<target>.rc (a job's status
# cannot be waited for reliably once other jobs were reaped).
run_one() {
  local t=$1 d rc=0
  mkdir -p "$work/corpus/$t" "$work/crashes"
  d=$(dict_of "$t" || true)
  # -timeout: an input taking 10 s is a hang. Leaks are checked
  # (-detect_leaks=1 is libFuzzer's default under ASan).
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  nice -n "$nice_level" "$dir/tests/fuzz/fuzz_$t" "$work/corpus/$t" "tests/fuzz/corpus/$t" \
    ${d:+-dict=$d} -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/crashes/$t-" >"$work/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$t.rc"
}

# A summary line from a finished log.
summary() {
  local t=$1 log=$work/$1.log
  local execs done_line
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  done_line=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)
  printf '%-18s %12s execs  %s\n' "$t" "${execs:-?}" \
    "$(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[bKM]*b?')"
}

# Debian's llvm-14 names the symbolizer with its version only.
if ! command -v llvm-symbolizer >/dev/null && [ -x /usr/bin/llvm-symbolizer-14 ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi

start=$(date +%s)
for t in $targets; do
  while [ "$(jobs -pr | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$t" &
done
wait
failed=()
for t in $targets; do
  [ "$(cat "$work/$t.rc" 2>/dev/null)" = 0 ] || failed+=("$t")
done

echo "fuzz: ${secs}s per target, $jobs at a time, $(( $(date +%s) - start ))s in all"
for t in $targets; do summary "$t"; done
if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo "==== fuzz_$t FAILED; report:"
    first=$(grep -n -m1 -E 'ERROR|invariant failed|runtime error|lua error|^jwt: ' "$work/$t.log" | cut -d: -f1)
    sed -n "$(( ${first:-1} > 10 ? ${first:-1} - 10 : 1 )),+70p" "$work/$t.log"
  done
  echo "fuzz: inputs saved under $work/crashes (reproduce: $dir/tests/fuzz/fuzz_<target> <file>)"
  exit 1
fi
[ "$keep" = 1 ] || rm -rf "$work"
exit 0
