#!/usr/bin/env bash
# Instruction counts of this checkout against an earlier commit: the criterion benchmarks' cases (SQL
# fingerprinting and scrubbing, analysis, JWT) and `dbpower digest` on a generated slow log, each run under
# callgrind on both commits. Counts are instructions, not seconds: the same binary and input give the same
# count whatever else the machine does, so a ratio here holds on any machine of this kind (caches and
# branch prediction are not modelled: use the timed benchmarks for those).
# Usage: scripts/bench-icount.sh BASE [ITERATIONS]      (ITERATIONS default 200 per case)
#   BENCH_BASE_DIR=DIR uses an existing checkout of BASE instead of a new worktree; EVENTS (default 20000)
#   sizes the digest's log. Needs valgrind.
# The benchmark sources of this checkout are copied into BASE before building it, so both sides run the
# same cases on the same inputs; only the code they call differs.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: scripts/bench-icount.sh BASE [ITERATIONS]}"
iterations="${2:-200}"
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian package valgrind)" >&2; exit 1; }
out="$(mktemp -d)"
# The JWT benchmark is left out: its API takes a struct since 2026-12-06, so its source is not portable to
# earlier commits (the signing code itself did not change).
benches="crates/dbpower-sql/benches/sql.rs crates/dbpower-sql/benches/support/icount.rs
  crates/dbpower-analysis/benches/analyze.rs"
if [ -n "${BENCH_BASE_DIR:-}" ]; then
  wt="$BENCH_BASE_DIR"
  [ "$(git -C "$wt" rev-parse HEAD)" = "$(git rev-parse "$base^{commit}")" ] || { echo "$wt is not at $base" >&2; exit 1; }
  trap 'git -C "$wt" checkout -q -- . && git -C "$wt" clean -qfd crates; rm -rf "$out"' EXIT
else
  wt="$out/base"
  git worktree add -q --detach "$wt" "$base"
  trap 'git worktree remove --force "$wt"; rm -rf "$out"' EXIT
fi
for f in $benches; do mkdir -p "$wt/$(dirname "$f")" && cp "$f" "$wt/$f"; done
# Bench binaries of one side, one per line: "name path".
build() {
  (cd "$1" && cargo build --release -q -p dbpower \
    && cargo bench --no-run -q --message-format=json -p dbpower-sql -p dbpower-analysis) \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["kind"] == ["bench"] and m.get("executable"):
        print(m["target"]["name"], m["executable"])'
}
build "$wt" >"$out/base.bins"
build "$PWD" >"$out/head.bins"
# Instructions one callgrind run of "$@" executes.
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | awk '/Collected :/ {print $4}'
}
EVENTS="${EVENTS:-20000}" SLOWLOG_OUT="$out/slow.log" scripts/bench-digest.sh >/dev/null
: >"$out/rows"
while read -r bench headbin; do
  basebin=$(awk -v b="$bench" '$1 == b {print $2}' "$out/base.bins")
  [ -n "$basebin" ] || { echo "no $bench benchmark in $base" >&2; exit 1; }
  for case in $(BENCH_ICOUNT=list "$headbin"); do
    echo "counting $bench/$case" >&2
    for side in base head; do
      bin="$headbin"; [ "$side" = base ] && bin="$basebin"
      zero=$(BENCH_ICOUNT="$case:0" count "$bin")
      many=$(BENCH_ICOUNT="$case:$iterations" count "$bin")
      echo "$bench/$case $side $(( (many - zero) / iterations ))" >>"$out/rows"
    done
  done
done <"$out/head.bins"
echo "counting dbpower digest" >&2
for side in base head; do
  dir="$PWD"; [ "$side" = base ] && dir="$wt"
  echo "digest/$(wc -l <"$out/slow.log" | awk '{print int($1 / 5)}')_events $side \
$(count "$dir/target/release/dbpower" digest --limit 20 "$out/slow.log")" >>"$out/rows"
done
python3 - "$out/rows" "$base" "$(git rev-parse --short HEAD)" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    case, side, n = line.split()
    rows.setdefault(case, {})[side] = int(n)
print(f"| case | {sys.argv[2]} instructions | {sys.argv[3]} instructions | ratio (head / base) |")
print("|---|---|---|---|")
for case, s in rows.items():
    print(f"| {case} | {s['base']:,} | {s['head']:,} | {s['head'] / s['base']:.3f} |")
PY
