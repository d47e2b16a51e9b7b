#!/usr/bin/env bash
# Before/after comparison of what Orthrus reports, for changes that must not change it.
#
#   scripts/compare-analyze.sh run BINARY OUT_DIR
#       `orthrus analyze --format json` over every lab capture and audit log (alone and with
#       the lab's directory), every lab-extra recording (alone, with the lab's directory, and
#       with its own snapshot when it has one), all benign recordings as one timeline, and
#       every public corpus file; and `orthrus activities` over each input file. One output
#       file per run, ending with the exit status.
#   scripts/compare-analyze.sh diff BEFORE_DIR AFTER_DIR [FIELD...]
#       Compares two runs file by file, as JSON lines with FIELD removed from every record
#       (a field the change added on purpose); prints each difference and exits 1 if any.
#
# Run `run` with the binary built before a change and after it, then `diff`: a refactoring
# leaves every file identical; each difference is a behaviour change to list in
# docs/RESULTS.md. Inputs are read in place (../shared/lab, ../shared/corpus, testdata);
# nothing is written outside OUT_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# One line per run: a name, then the arguments.
cases() {
  for f in testdata/pcap/*.pcap testdata/audit/*.audit.jsonl; do
    name=$(basename "$f")
    echo "lab.$name $f"
    echo "lab-dir.$name --directory testdata/directory/lab.snapshot.json $f"
  done
  for f in ../shared/lab/captures/*.pcap ../shared/lab/captures/*.jsonl; do
    [ -e "$f" ] && echo "shared-lab.$(basename "$f") $f"
  done
  for f in testdata/lab-extra/*.pcap testdata/lab-extra/*.audit.jsonl; do
    name=$(basename "$f")
    stem=${name%%.*}
    echo "extra.$name $f"
    echo "extra-dir.$name --directory testdata/directory/lab.snapshot.json $f"
    if [ -e "testdata/lab-extra/$stem.snapshot.json" ]; then
      echo "extra-own.$name --directory testdata/lab-extra/$stem.snapshot.json $f"
    fi
  done
  # Every benign recording in one timeline (what a sensor sees all day).
  echo "benign-timeline $(ls testdata/pcap/benign_*.pcap testdata/audit/benign_*.audit.jsonl testdata/lab-extra/benign_*.pcap | tr '\n' ' ')"
  find ../shared/corpus -type f ! -name '*.md' ! -name '*.tsv' | sort | while read -r f; do
    echo "corpus.$(echo "${f#../shared/corpus/}" | tr '/ ' '__') $f"
  done
}

run() {
  local bin out count=0
  bin=$(realpath "$1")
  out=$(realpath -m "$2")
  mkdir -p "$out/activities"
  cd "$root"
  while read -r name args; do
    local argv
    # Corpus paths may hold spaces: there the line's arguments after the name are one path.
    case "$name" in
      corpus.*) argv=("$args") ;;
      *) read -ra argv <<<"$args" ;;
    esac
    set +e
    "$bin" analyze --format json --no-progress "${argv[@]}" >"$out/$name.json" 2>/dev/null
    echo "exit $?" >>"$out/$name.json"
    case "$name" in
      lab.* | shared-lab.* | extra.* | corpus.*)
        "$bin" activities "${argv[@]}" >"$out/activities/$name.jsonl" 2>/dev/null
        echo "exit $?" >>"$out/activities/$name.jsonl"
        ;;
    esac
    set -e
    count=$((count + 1))
  done < <(cases)
  echo "$count runs written to $out"
}

diff_runs() {
  python3 - "$@" <<'PY'
import json, os, sys
before, after, drop = sys.argv[1], sys.argv[2], set(sys.argv[3:])
def records(path):
    out = []
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        try:
            value = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if isinstance(value, dict):
            for field in drop:
                value.pop(field, None)
        out.append(json.dumps(value, sort_keys=True))
    return out
differences = 0
for folder, _, files in os.walk(before):
    for name in sorted(files):
        b = os.path.join(folder, name)
        a = os.path.join(after, os.path.relpath(b, before))
        if not os.path.exists(a):
            print(f"missing after: {os.path.relpath(b, before)}")
            differences += 1
            continue
        rb, ra = records(b), records(a)
        if rb != ra:
            differences += 1
            print(f"== {os.path.relpath(b, before)}")
            for x in rb:
                if x not in ra:
                    print(f"- {x[:400]}")
            for x in ra:
                if x not in rb:
                    print(f"+ {x[:400]}")
print(f"{differences} file(s) differ")
sys.exit(1 if differences else 0)
PY
}

case "${1:-}" in
  run) shift; run "$@" ;;
  diff) shift; diff_runs "$@" ;;
  *) echo "usage: $0 run BINARY OUT_DIR | diff BEFORE_DIR AFTER_DIR [FIELD...]" >&2; exit 2 ;;
esac
