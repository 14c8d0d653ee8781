# Shared by the bench-*.sh scripts: builds release binaries, starts `dbpower serve` on a loopback port
# with a bootstrap admin (SQLite in a temporary directory, or a fresh PostgreSQL database), and stops and
# cleans up on exit. Sets $lg (the load generator command) and $db (the PostgreSQL database, if any).
# Usage: start_server BACKEND PORT
start_server() {
  local backend="$1" port="$2"
  cargo build --release -q -p dbpower -p dbpower-loadgen
  dir="$(mktemp -d)"
  local env=(DBPOWER_BOOTSTRAP_EMAIL=bench@dbpower.local DBPOWER_BOOTSTRAP_PASSWORD=bench-password-1 DBPOWER_DEMO=false
             DBPOWER_LOG_LEVEL=warn DBPOWER_LOGIN__MAX_FAILURES_PER_IP=100000
             DBPOWER_RATE_LIMIT__ENABLED=false)
  db=""
  if [ "$backend" = postgres ]; then
    db="dbpower_bench_$$"
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" >/dev/null
    env+=(DBPOWER_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db")
  fi
  env "${env[@]}" target/release/dbpower serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$dir/out" 2>"$dir/err" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"; [ -z "$db" ] || psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
  lg=(target/release/dbpower-loadgen --url "http://127.0.0.1:$port")
}
