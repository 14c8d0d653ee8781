#!/usr/bin/env bash
# The HTTP benchmarks of this checkout and of an earlier commit, in one run on one machine: each
# benchmark script runs on both, alternating, ROUNDS times, and the table gives each path's median
# requests/s on both and the ratio (this checkout / BASE; below 1.00 is slower). Machines here differ up
# to 3x from one another and drift within a run, so only the ratio of one run means anything.
# Usage: scripts/bench-compare.sh BASE [ROUNDS]        (ROUNDS default 2)
#   BENCHES="http:sqlite http:postgres ingest:postgres ingest:sqlite gateway read:postgres" (the default)
#   chooses the scripts (scripts/bench-NAME.sh ARG); BENCH_SECONDS and ROWS are passed on;
#   BENCH_BASE_DIR=DIR uses an existing checkout of BASE instead of a new worktree.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: scripts/bench-compare.sh BASE [ROUNDS]}"
rounds="${2:-2}"
benches="${BENCHES:-http:sqlite http:postgres ingest:postgres ingest:sqlite gateway read:postgres}"
out="$(mktemp -d)"
if [ -n "${BENCH_BASE_DIR:-}" ]; then
  # A checkout of BASE kept between runs (its release build is reused).
  wt="$BENCH_BASE_DIR"
  [ "$(git -C "$wt" rev-parse HEAD)" = "$(git rev-parse "$base^{commit}")" ] || { echo "$wt is not at $base" >&2; exit 1; }
  trap 'rm -rf "$out"' EXIT
else
  wt="$out/base"
  git worktree add -q --detach "$wt" "$base"
  trap 'git worktree remove --force "$wt"; rm -rf "$out"' EXIT
fi
# The base builds in its own target directory; both builds happen before anything is measured.
(cd "$wt" && cargo build --release -q -p dbpower -p dbpower-loadgen)
cargo build --release -q -p dbpower -p dbpower-loadgen
for r in $(seq "$rounds"); do
  for b in $benches; do
    name="${b%%:*}"; arg=""; [ "$b" != "$name" ] && arg="${b#*:}"
    for side in base head; do
      dir="$PWD"; [ "$side" = base ] && dir="$wt"
      echo "round $r: $b on $side" >&2
      # A "-- name" line heads each target of a script that measures several (the gateway's).
      (cd "$dir" && LOADGEN_JSON=1 "scripts/bench-$name.sh" $arg) \
        | awk -v b="$b" -v side="$side" '/^-- /{t=substr($0, 4) ": "} /^\{/{sub(/"label":"/, "\"label\":\"" t); print b "\t" side "\t" $0}' >>"$out/lines"
    done
  done
done
python3 - "$out/lines" "$base" "$(git rev-parse --short HEAD)" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    bench, side, doc = line.rstrip("\n").split("\t", 2)
    r = json.loads(doc)
    rows.setdefault((bench, r["label"]), {}).setdefault(side, []).append(r)
print(f"| benchmark | path | {sys.argv[2]} req/s (p99 ms) | {sys.argv[3]} req/s (p99 ms) | ratio | ratio per round |")
print("|---|---|---|---|---|---|")
for (bench, label), sides in rows.items():
    if "base" not in sides or "head" not in sides:
        continue
    med = {s: (statistics.median(x["rps"] for x in v), statistics.median(x["p99_ms"] for x in v))
           for s, v in sides.items()}
    ratio = med["head"][0] / med["base"][0] if med["base"][0] else float("nan")
    rounds = " ".join(f"{h['rps'] / b['rps']:.2f}" for b, h in zip(sides["base"], sides["head"]) if b["rps"])
    print(f"| {bench} | {label} | {med['base'][0]:,.0f} ({med['base'][1]:.2f}) | "
          f"{med['head'][0]:,.0f} ({med['head'][1]:.2f}) | {ratio:.2f} | {rounds} |")
PY
