#!/usr/bin/env bash
# Gateway overhead and Redis-backed rate-limit cost: `GET /api/v1/auth/me` (16 clients, keep-alive)
# straight to a release `dbpower backend`, through a `dbpower gateway` without limits, and through a
# gateway with Redis-backed limits (set high enough that every request is allowed, so each one pays the
# Lua script). All on one fresh PostgreSQL database and the local Redis, on the same two cores.
# Usage: scripts/bench-gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${BENCH_SECONDS:-10}"
cargo build --release -q -p dbpower -p dbpower-loadgen
db="dbpower_benchgw_$$"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" >/dev/null
dir="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; }
trap cleanup EXIT
export DBPOWER_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" DBPOWER_DATA_DIR="$dir" DBPOWER_DEMO=false \
  DBPOWER_JWT_SECRET=$(openssl rand -hex 32) DBPOWER_MASTER_KEY=$(openssl rand -hex 32) DBPOWER_LOG_LEVEL=warn \
  DBPOWER_BOOTSTRAP_EMAIL=bench@dbpower.local DBPOWER_BOOTSTRAP_PASSWORD=bench-password-1 \
  DBPOWER_LOGIN__MAX_FAILURES_PER_IP=100000 DBPOWER_ANALYSIS_WORKERS=0
start() { "$@" >"$dir/out.$#.$RANDOM" 2>&1 & pids+=($!); }
start target/release/dbpower backend --listen 127.0.0.1:18140
for _ in $(seq 50); do curl -sf http://127.0.0.1:18140/health >/dev/null && break; sleep 0.2; done
DBPOWER_GATEWAY__BACKEND_URL=http://127.0.0.1:18140 DBPOWER_RATE_LIMIT__ENABLED=false \
  start target/release/dbpower gateway --listen 127.0.0.1:18141
DBPOWER_GATEWAY__BACKEND_URL=http://127.0.0.1:18140 DBPOWER_REDIS_URL=redis://127.0.0.1:6379 \
  DBPOWER_RATE_LIMIT__REDIS_PREFIX="bench:$$:" DBPOWER_RATE_LIMIT__ORG_PER_MINUTE=100000000 \
  DBPOWER_RATE_LIMIT__ORG_PER_HOUR=100000000 DBPOWER_RATE_LIMIT__IP_PER_MINUTE=100000000 \
  start target/release/dbpower gateway --listen 127.0.0.1:18142
for port in 18141 18142; do for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done; done
echo "== $(nproc) cores; PostgreSQL, Redis, backend, gateways and load generator on the same machine"
for target in "backend direct:18140" "gateway, no limits:18141" "gateway, Redis limits:18142"; do
  echo "-- ${target%%:*}"
  target/release/dbpower-loadgen --url "http://127.0.0.1:${target##*:}" get --path /api/v1/auth/me \
    --email bench@dbpower.local --password bench-password-1 --clients 16 --seconds "$seconds"
done
