#!/usr/bin/env bash
# Read latency with many slow queries in one organization: fills it through signed ingestion
# (ROWS, default 1,000,000), then measures the slow-query list, the query-class list and the dashboard.
# Usage: scripts/bench-read.sh [postgres|sqlite]
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-postgres}"
rows="${ROWS:-1000000}"
seconds="${BENCH_SECONDS:-10}"
cargo build --release -q -p dbpower -p dbpower-loadgen
dir="$(mktemp -d)"
port=18125
env=(DBPOWER_BOOTSTRAP_EMAIL=bench@dbpower.local DBPOWER_BOOTSTRAP_PASSWORD=bench-password-1 DBPOWER_DEMO=false
     DBPOWER_LOG_LEVEL=warn)
if [ "$backend" = postgres ]; then
  db="dbpower_bench_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" >/dev/null
  env+=(DBPOWER_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db")
fi
env "${env[@]}" target/release/dbpower serve --listen 127.0.0.1:$port --data-dir "$dir" >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"; [ -n "${db:-}" ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
lg=(target/release/dbpower-loadgen --url "http://127.0.0.1:$port")
echo "== backend: $backend, filling $rows slow queries"
"${lg[@]}" ingest --email bench@dbpower.local --password bench-password-1 --batch 1000 --clients 4 --seconds 3600 \
  --max-requests $((rows / 1000)) --org-admin-email org@dbpower.local --org-admin-password org-password-12
if [ "$backend" = postgres ]; then psql -h 127.0.0.1 -U postgres -d "$db" -qc "VACUUM ANALYZE" >/dev/null; fi
# Read as the organization's admin (the role that browses one organization).
auth=(--email org@dbpower.local --password org-password-12 --clients 4 --seconds "$seconds")
"${lg[@]}" get --path "/api/v1/slow-queries?per_page=50" "${auth[@]}"
"${lg[@]}" get --path "/api/v1/slow-queries?per_page=50&sort=execution_time_ms" "${auth[@]}"
"${lg[@]}" get --path "/api/v1/slow-queries?per_page=50&database_type=postgresql&min_time_ms=1000" "${auth[@]}"
"${lg[@]}" get --path "/api/v1/query-classes?per_page=50" "${auth[@]}"
"${lg[@]}" get --path "/api/v1/stats/dashboard" "${auth[@]}"
