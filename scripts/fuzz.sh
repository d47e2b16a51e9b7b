#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/fuzz_targets, every one unless named) with cargo-fuzz on nightly,
# each from its seeds and its kept corpus, and writes a line per target to a report:
#   target  executions  seconds  executions/s  coverage  features  corpus  result
# CI runs it briefly (the smoke); a campaign runs it long:
#   scripts/fuzz.sh --seconds 10                                   # CI smoke
#   scripts/fuzz.sh --seconds 600 --runs 10000000 --report docs/fuzz-campaign.tsv
# A crash, leak or timeout the fuzzer finds is a failure (exit 1); its input is kept in
# fuzz/artifacts/TARGET/ and named in the report.
set -euo pipefail
caller=$(pwd)
cd "$(dirname "$0")/../fuzz"

seconds=10
runs=0
report=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --report) report=$(cd "$caller" && realpath -m "$2"); shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  # Every target of the folder: a new protocol's target is fuzzed without a line here.
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//' | sort)
fi

cargo +nightly fuzz build -O >/dev/null

evtx_seeds() {
  local corpus="${ORTHRUS_CORPUS:-../../shared/corpus}" dir
  dir=$(mktemp -d)
  find "$corpus" -name '*.evtx' -print0 | python3 -c '
import sys
out = sys.argv[1]
for n, path in enumerate(p for p in sys.stdin.read().split("\0") if p):
    data = open(path, "rb").read()
    for k in range(2):
        chunk = data[4096 + k * 65536:4096 + (k + 1) * 65536]
        if chunk.startswith(b"ElfChnk\0"):
            open(f"{out}/{n:03}-{k}.bin", "wb").write(chunk)
' "$dir"
  echo "$dir"
}

seeds_of() {
  case "$1" in
    capture) echo "seeds/capture ../testdata/pcap" ;;
    kerberos_message) echo "../testdata/kerberos" ;;
    ntlmssp_message) echo "../testdata/ntlmssp" ;;
    spnego_blob) echo "../testdata/spnego" ;;
    samba_audit) echo "../testdata/audit" ;;
    directory_snapshot) echo "../testdata/directory" ;;
    # The public corpus is read in place, never copied into the tree: its logs' first chunks
    # are cut into a temporary folder for the run.
    evtx_chunk) evtx_seeds ;;
    *) echo "seeds/$1" ;;
  esac
}

if [ -n "$report" ]; then
  printf 'target\texecutions\tseconds\texecutions_per_second\tcoverage\tfeatures\tcorpus\tresult\n' >"$report"
fi
failed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log=$(mktemp)
  limits=(-max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1)
  if [ "$runs" -gt 0 ]; then
    limits+=(-runs="$runs")
  fi
  if [ "$runs" -gt 0 ]; then
    echo "fuzzing $target (at most $seconds s or $runs runs)"
  else
    echo "fuzzing $target for $seconds s"
  fi
  started=$(date +%s)
  # shellcheck disable=SC2046
  if cargo +nightly fuzz run -O "$target" "corpus/$target" $(seeds_of "$target") -- "${limits[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED: $(grep -o 'artifacts/[^ ]*' "$log" | head -1 || true)"
    failed=1
  fi
  elapsed=$(($(date +%s) - started))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  corpus=$(ls "corpus/$target" | wc -l)
  per_second=$(( ${executions:-0} / (elapsed > 0 ? elapsed : 1) ))
  tail -3 "$log"
  if [ -n "$report" ]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "${executions:-0}" "$elapsed" "$per_second" \
      "${coverage:-0}" "${features:-0}" "$corpus" "$result" >>"$report"
  fi
  rm -f "$log"
done
exit $failed
