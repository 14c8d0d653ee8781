#!/usr/bin/env bash
# The agent tailing a busy slow log: a writer appends MySQL slow-log events at RATE events/s for SECONDS
# seconds while `dbpower agent` (release, 1 s rounds) collects, scrubs, spools and ships them to a release
# `dbpower serve` on loopback. Reports the agent's peak RSS and CPU, and how many events reached the platform.
# Usage: scripts/bench-agent.sh     (needs the local MariaDB: the slow_log_file method connects to it)
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${RATE:-5000}"
seconds="${SECONDS_TO_RUN:-30}"
. scripts/bench-lib.sh
start_server sqlite 18125
base="http://127.0.0.1:18125"
tok=$(curl -sf "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@dbpower.local","password":"bench-password-1"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
org=$(curl -sf "$base/api/v1/organizations" -H "authorization: Bearer $tok" -H 'content-type: application/json' \
  -d '{"name":"Agent bench"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
read -r key secret < <(curl -sf "$base/api/v1/api-keys" -H "authorization: Bearer $tok" -H 'content-type: application/json' \
  -d "{\"name\":\"bench\",\"organization_id\":$org}" | python3 -c 'import sys,json; k=json.load(sys.stdin); print(k["key_id"], k["secret"])')
log="$dir/slow.log"
: > "$log"
cat > "$dir/agent.toml" <<TOML
[platform]
url = "$base"
key_id = "$key"
secret = "$secret"
[agent]
name = "bench"
interval_secs = 1
[spool]
dir = "$dir/spool"
[[source]]
name = "busy"
kind = "mysql"
url = "mysql://root@127.0.0.1:3306/"
methods = ["slow_log_file"]
log_path = "$log"
start_at = "beginning"
TOML
DBPOWER_LOG=warn target/release/dbpower agent --config "$dir/agent.toml" 2>"$dir/agent.err" &
agent=$!
trap 'kill $agent 2>/dev/null; kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
python3 - "$log" "$rate" "$seconds" <<'PY'
import sys, time, random
path, rate, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(3)
shapes = ["SELECT * FROM orders_{k} WHERE email = 'user{r}@example.com' AND status IN ({l})",
          "UPDATE accounts_{k} SET balance = balance - {r} WHERE id = {r}",
          "SELECT COUNT(*) FROM sessions_{k} WHERE ip = '10.1.{d}.{d}' AND last_seen < '2024-01-{d:02}'"]
start = time.time(); n = 0
with open(path, "a", buffering=1 << 16) as f:
    while time.time() - start < seconds:
        for _ in range(rate // 10):
            s = shapes[n % 3].format(k=n % 20, r=random.randint(1, 99999), d=random.randint(1, 28),
                                     l=", ".join(str(random.randint(1, 9)) for _ in range(random.randint(1, 5))))
            f.write(f"# Time: 2026-12-03T10:00:00.000000Z\n# User@Host: app[app] @ localhost []  Id: {n % 50}\n"
                    f"# Query_time: {random.random():.6f}  Lock_time: 0.000010  Rows_sent: 1  Rows_examined: {random.randint(1, 9999)}\n"
                    f"SET timestamp={1764756000 + n // rate};\n{s};\n")
            n += 1
        f.flush()
        time.sleep(max(0.0, start + n / rate - time.time()))
print(n, file=open(path + ".count", "w"))
PY
sleep 4
written=$(cat "$log.count")
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
read -r utime stime < <(awk '{print $14, $15}' /proc/$agent/stat)
ticks=$(getconf CLK_TCK)
shipped=$(curl -sf "$base/api/v1/query-classes?per_page=100" -H "authorization: Bearer $tok" | python3 -c 'import sys,json; print(sum(c["count"] for c in json.load(sys.stdin)["items"]))')
python3 - "$written" "$shipped" "$rss_kb" "$utime" "$stime" "$ticks" "$seconds" "$(stat -c %s "$log")" <<'PY'
import sys
w, s, rss, ut, st, hz, secs, size = map(int, sys.argv[1:])
cpu = (ut + st) / hz
print(f"events written {w} ({w / secs:.0f}/s, {size / 1048576:.1f} MB), reached the platform {s}")
print(f"agent peak RSS {rss / 1024:.1f} MB, CPU {cpu:.2f} s over ~{secs + 4} s = {100 * cpu / (secs + 4):.1f}% of one core")
PY
