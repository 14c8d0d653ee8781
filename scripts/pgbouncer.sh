#!/usr/bin/env bash
# Starts a PgBouncer (Debian's, 1.18) in transaction pooling mode on 127.0.0.1:$1 in front of the
# PostgreSQL server on 127.0.0.1:$2, for any database, trusting users `postgres` and `root` as the
# server does. Its files live in $3 (created, owned by the `postgres` user PgBouncer runs as: it refuses
# to run as root). Prints the URL a platform uses through it. Stop it with `kill $(cat $3/pgbouncer.pid)`.
set -euo pipefail
port="${1:-6432}" server_port="${2:-5432}" dir="${3:-/tmp/dbpower-pgbouncer}"
[ -x /usr/sbin/pgbouncer ] || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
}
mkdir -p "$dir"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$server_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 4000
default_pool_size = 16
max_db_connections = 32
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
printf '"postgres" ""\n"root" ""\n' >"$dir/userlist.txt"
chown -R postgres "$dir"
if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
  kill "$(cat "$dir/pgbouncer.pid")" && sleep 1
fi
runuser -u postgres -- /usr/sbin/pgbouncer -d "$dir/pgbouncer.ini"
for _ in $(seq 30); do
  psql "postgres://postgres@127.0.0.1:$port/postgres" -Atqc "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.2
done
psql "postgres://postgres@127.0.0.1:$port/postgres" -Atqc "SELECT 1" >/dev/null
echo "postgres://postgres@127.0.0.1:$port/postgres?statement-cache-capacity=0"
