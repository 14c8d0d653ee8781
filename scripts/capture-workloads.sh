#!/usr/bin/env bash
# Captures a stored real-workload corpus into crates/dbpower/tests/corpus/workloads/ from private,
# throw-away database servers (nothing is read from or written to the shared servers on 3306/5432):
#   MariaDB (port MY_PORT, default 3399), every statement in the slow log (long_query_time=0):
#     - sysbench oltp_read_write, text protocol (schema sbtext) and server-side prepared statements (sbps)
#     - every statement of crates/dbpower-analysis/tests/corpus/orm-shapes-mysql.sql, replayed once
#       into the schema `orm`, which starts empty (statements on tables not created by an earlier
#       statement fail; --force goes on)
#     writes mariadb.slow.log.gz, mariadb.digests.tsv.gz (performance_schema digest table) and
#     mariadb.pt-query-digest.tsv.gz (pt-query-digest's classes of the slow log), gzip-compressed
#   PostgreSQL 15 (port PG_PORT, default 5499), log_min_duration_statement=0, pg_stat_statements:
#     - pgbench -i -s 1, then pgbench -M simple, -M extended and -M prepared, 20 transactions each
#     writes postgresql.log (the log from the pg_stat_statements reset onward) and postgresql.pgss.tsv
# The servers live in a temporary directory; they are stopped and the directory removed on exit.
# Needs root (the servers run as the mysql and postgres users), MariaDB 10.11, PostgreSQL 15 with
# pg_stat_statements, sysbench, percona-toolkit (pt-query-digest) and python3.
# Usage: bash scripts/capture-workloads.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=crates/dbpower/tests/corpus/workloads
orm_sql=crates/dbpower-analysis/tests/corpus/orm-shapes-mysql.sql
my_port="${MY_PORT:-3399}"
pg_port="${PG_PORT:-5499}"
pgbin=/usr/lib/postgresql/15/bin

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$my_port" "$pg_port"; do
  if port_in_use "$p"; then echo "port $p is already in use; set MY_PORT/PG_PORT" >&2; exit 1; fi
done

tmp="$(mktemp -d)"
chmod 755 "$tmp"
D="$tmp/mariadb"
P="$tmp/postgresql"
my_pid=""
pg_started=""
cleanup() {
  set +e
  if [ -n "$my_pid" ] && kill -0 "$my_pid" 2>/dev/null; then
    mariadb-admin --no-defaults -h127.0.0.1 -P"$my_port" -uroot shutdown >/dev/null 2>&1 || kill "$my_pid"
    wait "$my_pid" 2>/dev/null
  fi
  if [ -n "$pg_started" ]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$P/data" stop -m fast >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== versions"
mariadbd --version
mariadb --version
sysbench --version
pt-query-digest --version
"$pgbin/postgres" --version
"$pgbin/pgbench" --version
"$pgbin/psql" --version
python3 --version

stage="$tmp/out"   # the files are written here and replace the stored ones only at the end
mkdir -p "$stage"

# ---------------------------------------------------------------- MariaDB
echo "== MariaDB: private server on 127.0.0.1:$my_port"
mkdir -p "$D"
chown mysql:mysql "$D"
mariadb-install-db --no-defaults --datadir="$D/data" --user=mysql --auth-root-authentication-method=normal \
  --skip-test-db >/dev/null
mariadbd --no-defaults --datadir="$D/data" --user=mysql --port="$my_port" --bind-address=127.0.0.1 \
  --socket="$D/sock" --log-error="$D/error.log" \
  --performance-schema=ON --performance-schema-digests-size=20000 \
  --max-digest-length=4096 --performance-schema-max-digest-length=4096 \
  --performance-schema-max-sql-text-length=4096 \
  --slow-query-log=ON --slow-query-log-file="$D/slow.log" --long-query-time=0 \
  --log-slow-verbosity=query_plan >/dev/null 2>&1 &
my_pid=$!
my=(mariadb --no-defaults -h127.0.0.1 -P"$my_port" -uroot)
ready=""
for _ in $(seq 120); do
  if "${my[@]}" -e 'select 1' >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$my_pid" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$ready" ]; then echo "MariaDB did not start" >&2; cat "$D/error.log" >&2; exit 1; fi

# The digest table starts empty here; the slow log also holds the readiness probe above.
"${my[@]}" -e 'TRUNCATE performance_schema.events_statements_summary_by_digest'
"${my[@]}" -e 'CREATE DATABASE sbtext'
"${my[@]}" -e 'CREATE DATABASE sbps'
"${my[@]}" -e 'CREATE DATABASE orm'

sb=(sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$my_port" --mysql-user=root
    --tables=2 --table-size=1000 --rand-seed=1)
echo "== sysbench, text protocol (schema sbtext)"
"${sb[@]}" --mysql-db=sbtext --db-ps-mode=disable prepare >/dev/null
"${sb[@]}" --mysql-db=sbtext --db-ps-mode=disable --events=20 --threads=1 run >/dev/null
echo "== sysbench, server-side prepared statements (schema sbps)"
"${sb[@]}" --mysql-db=sbps --db-ps-mode=auto prepare >/dev/null
"${sb[@]}" --mysql-db=sbps --db-ps-mode=auto --events=10 --threads=1 run >/dev/null

echo "== ORM statement shapes replayed into schema orm"
# One statement per line; a delimiter that occurs nowhere in the file ends each line (two statements
# hold ';'), --binary-mode keeps the client from interpreting anything but DELIMITER, --comments sends
# each line unchanged, --force goes on after an error.
delim='$$'
if grep -qF -- "$delim" "$orm_sql"; then echo "delimiter $delim occurs in $orm_sql" >&2; exit 1; fi
orm_sent=$(grep -vc '^--' "$orm_sql")
orm_rc=0
{ printf 'DELIMITER %s\n' "$delim"; grep -v '^--' "$orm_sql" | sed "s/\$/$delim/"; } |
  "${my[@]}" --force --binary-mode --comments orm >/dev/null 2>"$tmp/orm.err" || orm_rc=$?
orm_failed=$(grep -c '^ERROR ' "$tmp/orm.err" || true)

# A statement's digest row is updated when the statement ends, so this SELECT is not in its own result.
# Its slow log entry is cut off below (the log is taken once the server has stopped).
"${my[@]}" --batch --raw -e "SELECT schema_name, digest, count_star, sum_errors,
    REPLACE(REPLACE(REPLACE(digest_text, CHAR(9), ' '), CHAR(10), ' '), CHAR(13), ' ') AS digest_text
  FROM performance_schema.events_statements_summary_by_digest ORDER BY schema_name, digest" \
  >"$tmp/mariadb.digests.tsv"
mariadb-admin --no-defaults -h127.0.0.1 -P"$my_port" -uroot shutdown
wait "$my_pid" || true
my_pid=""

# The slow log as the server wrote it, less its 3-line banner (version, port and temporary socket
# path, column titles) and the entry of the digest table read above, which is the last one.
python3 - "$D/slow.log" "$tmp/mariadb.slow.log" <<'PY'
import re, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
banner = [rb"^mariadbd, Version: ", rb"^Tcp port: ", rb"^Time\s+Id\s+Command\s+Argument"]
start = 0
while start < min(3, len(lines)) and re.match(banner[start], lines[start]):
    start += 1
reads = [i for i, l in enumerate(lines) if l.startswith(b"SELECT schema_name, digest, count_star, sum_errors,")]
if len(reads) != 1:
    sys.exit("expected one digest table read in the slow log, found %d" % len(reads))
end = reads[0]
while not lines[end].startswith(b"# User@Host: "):
    end -= 1
if end > 0 and lines[end - 1].startswith(b"# Time: "):
    end -= 1
open(sys.argv[2], "wb").write(b"\n".join(lines[start:end]) + b"\n")
PY

orm_logged=$(grep -cE '^# Thread_id: [0-9]+ +Schema: orm +' "$tmp/mariadb.slow.log" || true)
read -r orm_digest_count orm_digest_errors < <(awk -F'\t' '$1 == "orm" { c += $3; e += $4 } END { print c + 0, e + 0 }' \
  "$tmp/mariadb.digests.tsv")
echo "ORM statements sent: $orm_sent (client exit status $orm_rc, errors reported by the client: $orm_failed)"
echo "ORM statements in the slow log (Schema: orm): $orm_logged"
echo "ORM statements in the digest table: count_star $orm_digest_count, sum_errors $orm_digest_errors"
if [ "$orm_logged" -ne "$orm_sent" ]; then echo "warning: ORM statements sent and logged differ" >&2; fi
if [ "$orm_digest_count" -ne "$orm_sent" ]; then echo "warning: ORM statements sent and in the digest table differ" >&2; fi

echo "== pt-query-digest"
pt-query-digest --no-version-check --limit 100000 --output json "$tmp/mariadb.slow.log" \
  >"$tmp/pt.json" 2>"$tmp/pt.err"
if [ -s "$tmp/pt.err" ]; then echo "pt-query-digest stderr:"; cat "$tmp/pt.err"; fi
python3 - "$tmp/pt.json" "$tmp/mariadb.pt-query-digest.tsv" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    text = f.read()
data = json.loads(text[text.index("{"):])
rows = []
for c in data["classes"]:
    fp = c["fingerprint"].replace("\t", " ").replace("\r", " ").replace("\n", " ")
    rows.append((c["checksum"], int(c["query_count"]), fp))
rows.sort()
with open(sys.argv[2], "w") as f:
    f.write("checksum\tcount\tfingerprint\n")
    for r in rows:
        f.write(f"{r[0]}\t{r[1]}\t{r[2]}\n")
print(f"pt-query-digest classes: {len(rows)}, sum of counts: {sum(r[1] for r in rows)}, "
      f"global query_count: {data['global']['query_count']}")
PY
slow_events=$(grep -c '^# Query_time: ' "$tmp/mariadb.slow.log")
pt_total=$(awk -F'\t' 'NR > 1 { s += $2 } END { print s + 0 }' "$tmp/mariadb.pt-query-digest.tsv")
echo "events in the slow log (# Query_time lines): $slow_events; pt-query-digest total count: $pt_total"
if [ "$slow_events" -ne "$pt_total" ]; then echo "warning: pt-query-digest total differs from the log" >&2; fi
echo "slow log: $(stat -c %s "$tmp/mariadb.slow.log") bytes uncompressed"
# Compressed: uncompressed, the three MariaDB files are about 8 MB (the ORM statements appear in full
# in each). gzip -n stores no name or time, so equal contents give equal files.
for f in mariadb.slow.log mariadb.digests.tsv mariadb.pt-query-digest.tsv; do
  gzip -9 -n -c "$tmp/$f" >"$stage/$f.gz"
done

# ---------------------------------------------------------------- PostgreSQL
echo "== PostgreSQL: private cluster on 127.0.0.1:$pg_port"
mkdir -p "$P"
chown postgres "$P"
runuser -u postgres -- "$pgbin/initdb" -D "$P/data" -A trust -U postgres >/dev/null
pg_started=1
runuser -u postgres -- "$pgbin/pg_ctl" -D "$P/data" -l "$P/server.log" -w start -o "-p $pg_port -k $P \
  -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top \
  -c log_min_duration_statement=0 -c log_checkpoints=off -c logging_collector=on -c log_directory=$P/log \
  -c log_filename=postgresql.log -c log_line_prefix='%m [%p] %q%u@%d ' -c lc_messages=C" >/dev/null
psql=("$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$P" -p "$pg_port" -U postgres)
pgbench=("$pgbin/pgbench" -h "$P" -p "$pg_port" -U postgres)
"${psql[@]}" -d postgres -c 'CREATE EXTENSION pg_stat_statements'
"${psql[@]}" -d postgres -c 'CREATE DATABASE bench'
"${pgbench[@]}" -i -s 1 -q bench >/dev/null 2>"$tmp/pgbench.err" || { cat "$tmp/pgbench.err" >&2; exit 1; }
# The stored log starts after this reset's own log line, so it and pg_stat_statements cover the same
# statements; the reset runs in database postgres and pg_stat_statements is read for bench only.
"${psql[@]}" -d postgres -c 'SELECT pg_stat_statements_reset()' >/dev/null
for mode in simple extended prepared; do
  echo "== pgbench -M $mode"
  "${pgbench[@]}" -n -t 20 -c 1 -M "$mode" --random-seed=1 bench >/dev/null 2>"$tmp/pgbench.err" || { cat "$tmp/pgbench.err" >&2; exit 1; }
done
"${psql[@]}" -d postgres -A -F $'\t' -P footer=off -c "SELECT queryid, toplevel, calls,
    regexp_replace(query, E'[\\t\\n\\r]', ' ', 'g') AS query
  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bench')
  ORDER BY queryid" >"$stage/postgresql.pgss.tsv"
runuser -u postgres -- "$pgbin/pg_ctl" -D "$P/data" stop -m fast >/dev/null
pg_started=""
# Keep the lines after the reset's line up to (not including) the line of the pg_stat_statements read.
awk '/statement: SELECT queryid, toplevel, calls,/ { exit }
     on { print }
     /statement: SELECT pg_stat_statements_reset\(\)$/ { on = 1 }' "$P/log/postgresql.log" >"$stage/postgresql.log"
pg_logged=$(grep -cE 'duration: [0-9.]+ ms  (statement|execute [^:]*):' "$stage/postgresql.log" || true)
pg_calls=$(awk -F'\t' 'NR > 1 { s += $3 } END { print s + 0 }' "$stage/postgresql.pgss.tsv")
echo "PostgreSQL statements executed in the log (statement/execute lines): $pg_logged; pg_stat_statements calls: $pg_calls"

mkdir -p "$out"
rm -f "$out"/mariadb.* "$out"/postgresql.*
cp "$stage"/* "$out"/

echo "== files"
for f in "$out"/*; do
  case "$f" in
    *.gz) printf '%-55s %9d bytes (%d bytes, %d lines uncompressed)\n' "$f" "$(stat -c %s "$f")" \
            "$(gzip -dc "$f" | wc -c)" "$(gzip -dc "$f" | wc -l)" ;;
    *) printf '%-55s %9d bytes (%d lines)\n' "$f" "$(stat -c %s "$f")" "$(wc -l <"$f")" ;;
  esac
done
total=$(du -sb "$out" | cut -f1)
echo "total: $total bytes"
if [ "$total" -ge 4194304 ]; then echo "warning: $out is 4 MB or more" >&2; fi
