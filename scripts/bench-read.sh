#!/usr/bin/env bash
# Read latency with many slow queries in one organization: fills it through signed ingestion
# (ROWS, default 1,000,000), then measures the slow-query list, the query-class list and the dashboard.
# Usage: scripts/bench-read.sh [postgres|sqlite]
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-postgres}"
rows="${ROWS:-1000000}"
seconds="${BENCH_SECONDS:-10}"
. scripts/bench-lib.sh
start_server "$backend" 18125
echo "== backend: $backend, filling $rows slow queries"
"${lg[@]}" ingest --email bench@dbpower.local --password bench-password-1 --batch 1000 --clients 4 --seconds 3600 \
  --max-requests $((rows / 1000)) --organization-name bench-read \
  --org-admin-email org@dbpower.local --org-admin-password org-password-12
if [ "$backend" = postgres ]; then psql -h 127.0.0.1 -U postgres -d "$db" -qc "VACUUM ANALYZE" >/dev/null; fi
# Read as the organization's admin (the role that browses one organization).
auth=(--email org@dbpower.local --password org-password-12 --organization bench-read --clients 4 --seconds "$seconds")
"${lg[@]}" get --path "/api/v1/slow-queries?per_page=50" "${auth[@]}"
"${lg[@]}" get --path "/api/v1/slow-queries?per_page=50&sort=execution_time_ms" "${auth[@]}"
"${lg[@]}" get --path "/api/v1/slow-queries?per_page=50&database_type=postgresql&min_time_ms=1000" "${auth[@]}"
"${lg[@]}" get --path "/api/v1/query-classes?per_page=50" "${auth[@]}"
"${lg[@]}" get --path "/api/v1/stats/dashboard" "${auth[@]}"
