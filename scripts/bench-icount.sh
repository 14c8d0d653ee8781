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
: >"$out/rows"
# MICRO=0 skips the benchmark cases and the digest.
[ "${MICRO:-1}" = 1 ] && while read -r bench headbin; do
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
[ "${MICRO:-1}" = 1 ] && EVENTS="${EVENTS:-20000}" SLOWLOG_OUT="$out/slow.log" scripts/bench-digest.sh >/dev/null \
  && echo "counting dbpower digest" >&2
[ "${MICRO:-1}" = 1 ] && for side in base head; do
  dir="$PWD"; [ "$side" = base ] && dir="$wt"
  echo "digest/$(wc -l <"$out/slow.log" | awk '{print int($1 / 5)}')_events $side \
$(count "$dir/target/release/dbpower" digest --limit 20 "$out/slow.log")" >>"$out/rows"
done
# Signed ingestion into PostgreSQL: `dbpower serve` under callgrind takes N batches of 100 from one client
# (no group commit to vary), for two N; the difference over the batches between them is the server's
# instructions per batch (start-up, login and the first classes cancel out), and PostgreSQL's
# pg_stat_statements gives the statements, rows and WAL bytes per batch the store made PostgreSQL write
# (pg_stat_statements must be loaded; its time columns are left out: they are times, and this server runs
# under callgrind). INGEST=0 skips it.
ingest_run() { # dir requests -> "instructions calls rows wal_bytes"
  local dir="$1" n="$2" data db port
  data="$(mktemp -d)"; db="dbpower_icount_$$_$n"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" >/dev/null
  env DBPOWER_BOOTSTRAP_EMAIL=bench@dbpower.local DBPOWER_BOOTSTRAP_PASSWORD=bench-password-1 DBPOWER_DEMO=false \
    DBPOWER_LOG_LEVEL=warn DBPOWER_RATE_LIMIT__ENABLED=false DBPOWER_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$dir/target/release/dbpower" serve \
    --listen "127.0.0.1:$port" --data-dir "$data" >"$data/out" 2>"$data/vg" &
  local vpid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  "$dir/target/release/dbpower-loadgen" --url "http://127.0.0.1:$port" ingest --email bench@dbpower.local \
    --password bench-password-1 --batch 100 --clients 1 --seconds 3600 --max-requests "$n" >/dev/null
  sleep 5 # the analysis worker finishes the new classes
  kill -INT "$vpid"; wait "$vpid" || true
  echo "$(awk '/Collected :/ {print $4}' "$data/vg") $(psql -h 127.0.0.1 -U postgres -Atc \
    "SELECT sum(calls), sum(rows), sum(wal_bytes) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')" | tr '|' ' ')"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -rf "$data"
}
if [ "${INGEST:-1}" = 1 ]; then
  (cd "$wt" && cargo build --release -q -p dbpower -p dbpower-loadgen)
  cargo build --release -q -p dbpower -p dbpower-loadgen
  psql -h 127.0.0.1 -U postgres -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  for side in base head; do
    dir="$PWD"; [ "$side" = base ] && dir="$wt"
    echo "counting ingestion on $side" >&2
    read -r i1 c1 r1 w1 <<<"$(ingest_run "$dir" 10)"
    read -r i2 c2 r2 w2 <<<"$(ingest_run "$dir" 50)"
    echo "ingest/server_instructions_per_batch_of_100 $side $(( (i2 - i1) / 40 ))" >>"$out/rows"
    echo "ingest/postgres_statements_per_batch $side $(python3 -c "print(($c2 - $c1) / 40)")" >>"$out/rows"
    echo "ingest/postgres_rows_per_batch $side $(python3 -c "print(($r2 - $r1) / 40)")" >>"$out/rows"
    echo "ingest/postgres_wal_bytes_per_batch $side $(python3 -c "print(($w2 - $w1) / 40)")" >>"$out/rows"
  done
fi
python3 - "$out/rows" "$base" "$(git rev-parse --short HEAD)" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    case, side, n = line.split()
    rows.setdefault(case, {})[side] = float(n)
print(f"| case | {sys.argv[2]} instructions | {sys.argv[3]} instructions | ratio (head / base) |")
print("|---|---|---|---|")
for case, s in rows.items():
    fmt = (lambda v: f"{v:,.0f}") if s["base"] >= 1000 else (lambda v: f"{v:.2f}")
    print(f"| {case} | {fmt(s['base'])} | {fmt(s['head'])} | {s['head'] / s['base']:.3f} |")
PY
