#!/usr/bin/env bash
# Fuzzes the served OpenAPI document of a running `dbpower serve` with schemathesis (PyPI), logged in as
# the super admin: every generated request must get an answer that is not a server error (5xx) and that
# conforms to the documented response schema. Bounded in time; used by .ci/run.
#   scripts/fuzz-api.sh [BINARY] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/dbpower}"
budget="${2:-150}"
venv="target/fuzz-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis==4.32.5'
fi
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DBPOWER_BOOTSTRAP_EMAIL=fuzz@dbpower.test DBPOWER_BOOTSTRAP_PASSWORD=fuzz-password-1 \
  DBPOWER_RATE_LIMIT__ENABLED=false DBPOWER_PASSWORD_HASH_COST=4 DBPOWER_LOG_LEVEL=error \
  "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
token="$(curl -fs -X POST "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"fuzz@dbpower.test","password":"fuzz-password-1"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
# Logout would end the session the run is using; everything else is fuzzed.
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --header "Authorization: Bearer $token" \
  --exclude-path /api/v1/auth/logout \
  --max-examples 30 --max-time "$budget" --request-timeout 10 --seed 1 --no-color
kill -0 $server 2>/dev/null || { echo "dbpower serve died during the fuzzing run"; cat "$work/serve.log"; exit 1; }
echo "fuzzing passed: no server error, every response matches the document"
