#!/usr/bin/env bash
# HTTP benchmarks of a release `dbpower serve` on loopback: /health (baseline), authenticated
# /api/v1/auth/me with 16 clients, and login latency at bcrypt cost 12.
# Usage: scripts/bench-http.sh [sqlite|postgres]   (postgres needs a local server, trust auth)
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
seconds="${BENCH_SECONDS:-10}"
cargo build --release -q -p dbpower -p dbpower-loadgen
dir="$(mktemp -d)"
port=18123
env=(DBPOWER_BOOTSTRAP_EMAIL=bench@dbpower.local DBPOWER_BOOTSTRAP_PASSWORD=bench-password-1 DBPOWER_DEMO=false
     DBPOWER_LOG_LEVEL=warn DBPOWER_LOGIN__MAX_FAILURES_PER_IP=100000)
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
echo "== backend: $backend, $(nproc) cores, server and load generator on the same machine"
"${lg[@]}" get --path /health --clients 16 --seconds "$seconds"
"${lg[@]}" get --path /api/v1/auth/me --email bench@dbpower.local --password bench-password-1 --clients 16 --seconds "$seconds"
"${lg[@]}" login --email bench@dbpower.local --password bench-password-1 --clients 1 --requests 20
"${lg[@]}" login --email bench@dbpower.local --password bench-password-1 --clients 8 --requests 40
