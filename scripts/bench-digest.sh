#!/usr/bin/env bash
# Digest throughput: a generated MySQL slow log (EVENTS, default 200,000 events in 40 statement shapes),
# digested by `dbpower digest` and by pt-query-digest in the same run; wall time, events/s, MB/s, peak RSS.
# Usage: scripts/bench-digest.sh     (needs Debian's percona-toolkit for the comparison)
set -euo pipefail
cd "$(dirname "$0")/.."
events="${EVENTS:-200000}"
cargo build --release -q -p dbpower
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
python3 - "$events" "$dir/slow.log" <<'PY'
import sys, random
n, path = int(sys.argv[1]), sys.argv[2]
random.seed(7)
shapes = [
  "SELECT o.id, o.total FROM orders_{k} o JOIN customers c ON c.id = o.customer_id WHERE c.email = 'user{r}@example.com' AND o.status IN ({lst}) ORDER BY o.created_at DESC LIMIT {r}, 20",
  "UPDATE accounts_{k} SET balance = balance - {r}.25, note = 'refund {r}' WHERE id = {r}",
  "INSERT INTO events_{k} (user_id, kind, payload) VALUES ({r}, 'click', '{{\"x\": {r}}}'), ({r}, 'view', 'y')",
  "SELECT COUNT(*) FROM sessions_{k} WHERE last_seen < '2024-01-{d:02} 10:00:00' AND ip = '10.{d}.{d}.{d}'",
]
with open(path, "w") as f:
    for i in range(n):
        s = shapes[i % 4].format(k=i % 10, r=random.randint(1, 99999), d=random.randint(1, 28),
                                 lst=", ".join(str(random.randint(1, 9)) for _ in range(random.randint(1, 8))))
        qt = random.random() * 3
        f.write(f"# Time: 241125 16:{(i // 60) % 60:02d}:{i % 60:02d}\n# User@Host: app[app] @ localhost []  Id: {i % 50}\n")
        f.write(f"# Query_time: {qt:.6f}  Lock_time: 0.000{random.randint(10,99)}  Rows_sent: {random.randint(0,50)}  Rows_examined: {random.randint(0,100000)}\n")
        f.write(f"SET timestamp={1732552920 + i};\n{s};\n")
PY
# SLOWLOG_OUT=PATH only writes the generated log there (scripts/bench-icount.sh digests it on two commits).
if [ -n "${SLOWLOG_OUT:-}" ]; then cp "$dir/slow.log" "$SLOWLOG_OUT"; exit 0; fi
size=$(stat -c %s "$dir/slow.log")
echo "== $events events, $((size / 1024 / 1024)) MB"
run() {
  local label="$1"; shift
  /usr/bin/time -f "%e %M" -o "$dir/time" "$@" >/dev/null 2>"$dir/err" || { cat "$dir/err"; return 1; }
  read -r secs rss < "$dir/time"
  python3 -c "import sys; s=float(sys.argv[1]) or 0.001; print(f'{sys.argv[2]:<18} {s:7.2f} s  {int(sys.argv[3])/s:10.0f} events/s  {int(sys.argv[4])/s/1048576:7.1f} MB/s  peak RSS {int(sys.argv[5])/1024:6.1f} MB')" \
    "$secs" "$label" "$events" "$size" "$rss"
}
# Five runs of dbpower (the machine is noisy; the median is reported), one of pt-query-digest (~7-9 s).
for i in 1 2 3 4 5; do run "dbpower digest" target/release/dbpower digest --limit 20 "$dir/slow.log" | tee -a "$dir/ours"; done
median=$(awk '{print $3}' "$dir/ours" | sort -n | sed -n 3p)
echo "dbpower digest median: $median s"
if command -v pt-query-digest >/dev/null; then
  run "pt-query-digest" pt-query-digest --limit 20 "$dir/slow.log" | tee "$dir/theirs"
  python3 -c "import sys; print(f'ratio: {float(sys.argv[2]) / float(sys.argv[1]):.1f}x faster (median of ours)')" "$median" "$(awk '{print $2}' "$dir/theirs")"
fi
