#!/usr/bin/env bash
# HTTP benchmarks of a release `dbpower serve` on loopback: /health (baseline), authenticated
# /api/v1/auth/me with 16 clients, and login latency at bcrypt cost 12.
# Usage: scripts/bench-http.sh [sqlite|postgres]   (postgres needs a local server, trust auth)
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
seconds="${BENCH_SECONDS:-10}"
. scripts/bench-lib.sh
start_server "$backend" 18123
echo "== backend: $backend, $(nproc) cores, server and load generator on the same machine"
"${lg[@]}" get --path /health --clients 16 --seconds "$seconds"
"${lg[@]}" get --path /api/v1/auth/me --email bench@dbpower.local --password bench-password-1 --clients 16 --seconds "$seconds"
"${lg[@]}" login --email bench@dbpower.local --password bench-password-1 --clients 1 --requests 20
"${lg[@]}" login --email bench@dbpower.local --password bench-password-1 --clients 8 --requests 40
