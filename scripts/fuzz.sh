#!/usr/bin/env bash
# Builds the libFuzzer targets of native/fuzz (clang, -fsanitize=fuzzer,address,undefined) into build-fuzz/
# and runs them. Each target checks one part of the native code against a simple model (see the comment at
# the top of each native/fuzz/fuzz_*.cc).
#
#   npm run fuzz                       every target for 20 s (a bounded run, fine for CI)
#   npm run fuzz -- <target> [seconds] one target (ring, analysis, overlap, engine, blocks, or all), e.g. analysis 3600
#   scripts/fuzz.sh --smoke [seconds]  every target for 3 s (ctest's fuzz_smoke); exit 77 = skipped
#   scripts/fuzz.sh --status           one line: whether ctest's fuzz_smoke can run here (npm run test:native)
#
# Corpora are kept in build-fuzz/corpus/<target> (they grow from run to run); a failing input is written to
# build-fuzz/crashes/<target>-crash-<sha1> and the run fails. Once fixed, commit it to native/fuzz/regress/<target>
# (replayed by every run). Replay one with
#   build-fuzz/fuzz_<target> build-fuzz/crashes/<file>
# Extra libFuzzer flags go in FUZZ_FLAGS (e.g. FUZZ_FLAGS="-jobs=2 -workers=2"); FUZZ_CXX names the compiler
# (default clang++).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(ring analysis overlap engine blocks)
smoke=0
status_only=0
if [ "${1:-}" = "--status" ]; then
  status_only=1
  target=all
  seconds=1
elif [ "${1:-}" = "--smoke" ]; then
  smoke=1
  shift
  target=all
  seconds=${1:-3}
else
  target=${1:-all}
  seconds=${2:-20}
fi
case "$target" in
  all) run=("${TARGETS[@]}") ;;
  ring|analysis|overlap|engine|blocks) run=("$target") ;;
  *) echo "usage: npm run fuzz -- [ring|analysis|overlap|engine|blocks|all] [seconds]" >&2; exit 2 ;;
esac
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then echo "seconds must be a positive integer" >&2; exit 2; fi

# clang with libFuzzer's runtime (Debian: clang + libclang-rt-<version>-dev).
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cc"
cxx=${FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null 2>&1 || ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cc" -o "$probe/p" >/dev/null 2>&1; then
  echo "skipped: fuzzing needs clang with libFuzzer (apt-get install -y clang libclang-rt-14-dev)"
  [ $status_only = 1 ] && exit 0
  [ $smoke = 1 ] && exit 77
  exit 1
fi
if [ $status_only = 1 ]; then
  echo "fuzz_smoke: clang with libFuzzer found, every target ran a few seconds (npm run fuzz for longer runs)"
  exit 0
fi

gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S . -B build-fuzz "${gen[@]}" -DMEETCORE_FUZZ=ON -DCMAKE_CXX_COMPILER="$(command -v "$cxx")" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build-fuzz --target "${run[@]/#/fuzz_}" -- -j"$(nproc)" >build-fuzz/build.log 2>&1 || { cat build-fuzz/build.log; exit 1; }

status=0
for t in "${run[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" build-fuzz/crashes
  echo "fuzz_$t: ${seconds} s"
  log="build-fuzz/fuzz_$t.log"
  # Inputs that once failed (native/fuzz/regress/<target>) are replayed first, every run.
  regress=""
  [ -d "native/fuzz/regress/$t" ] && regress="native/fuzz/regress/$t"
  # shellcheck disable=SC2086
  if build-fuzz/fuzz_$t -max_total_time="$seconds" -max_len=8192 -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/crashes/$t-" ${FUZZ_FLAGS:-} "build-fuzz/corpus/$t" $regress >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "  ok: ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}, corpus $(ls "build-fuzz/corpus/$t" | wc -l) inputs"
  else
    status=1
    echo "  FAILED (log: $log):"
    grep -E 'ERROR|model check failed|runtime error|SUMMARY|Test unit written' "$log" | head -n 20 | sed 's/^/    /'
  fi
done
exit $status
