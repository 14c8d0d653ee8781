#!/usr/bin/env bash
# Captures the labelled EXPLAIN corpus of crates/dbpower-analysis/tests/corpus/plans/ (the labels are in
# crates/dbpower-analysis/tests/corpus/plan_cases.toml, written by hand: this script only makes the plans).
#
# On the shared servers it creates a scratch database `dbp_plan_capture`:
#   PostgreSQL 127.0.0.1:5432, user postgres (trust auth), and
#   MariaDB    127.0.0.1:3306, user root without password,
# fills a few tables with generated data (md5 strings and sequences, no personal data, at most 200k rows
# each), then explains every case below with its setup and writes the server's JSON output to
# plans/<case>.json:
#   PostgreSQL: BEGIN; <setup>; EXPLAIN (ANALYZE, FORMAT JSON) <statement>; ROLLBACK  (so an UPDATE or a
#               CREATE INDEX of a setup leaves nothing behind; SET LOCAL settings end with the transaction)
#   MariaDB:    <setup>; EXPLAIN FORMAT=JSON <statement>  or  ANALYZE FORMAT=JSON <statement>
#               (ANALYZE where a rule needs the measured numbers: r_rows, r_filtered, r_sort_passes),
#               each case in its own connection, so SET SESSION settings do not leak.
# Both scratch databases are dropped on exit (also after a failure), and dropped first if a previous run
# left them; the plans replace the stored ones only when every case succeeded. Re-runnable; takes well
# under a minute. Plans carry timings, so the files change on every run.
# Needs psql and the mariadb client. Usage: bash scripts/capture-plans.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=crates/dbpower-analysis/tests/corpus/plans
db=dbp_plan_capture
pg=(env PGOPTIONS="-c client_min_messages=warning" psql -X -A -t -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres)
my=(mariadb --batch --raw -N -h 127.0.0.1 -P 3306 -u root)

stage="$(mktemp -d)"
cleanup() {
  set +e
  "${pg[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null
  "${my[@]}" -e "DROP DATABASE IF EXISTS $db" 2>/dev/null
  rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start=$SECONDS

echo "== PostgreSQL: $db"
"${pg[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
"${pg[@]}" -d "$db" <<'SQL'
SET client_min_messages = warning;
CREATE TABLE customers (
  id int PRIMARY KEY, region int NOT NULL, tier text NOT NULL, name text NOT NULL,
  code char(8) NOT NULL, email varchar(64) NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO customers
SELECT g, g % 50,
       CASE WHEN g % 200 = 0 THEN 'enterprise' WHEN g % 20 = 0 THEN 'pro' ELSE 'free' END,
       md5('name' || g), lpad(g::text, 8, '0'), md5('mail' || g) || '@example.test',
       timestamptz '2020-01-01' + g * interval '1 hour'
FROM generate_series(1, 20000) g;
CREATE INDEX customers_code ON customers (code);
CREATE INDEX customers_region ON customers (region);

CREATE TABLE orders (
  id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, total numeric(10,2) NOT NULL,
  qty int NOT NULL, created_at timestamptz NOT NULL, note text NOT NULL);
INSERT INTO orders
SELECT g, 1 + (g * 7919) % 20000,
       CASE WHEN g % 100 = 0 THEN 'refunded' WHEN g % 10 = 0 THEN 'cancelled' WHEN g % 3 = 0 THEN 'pending' ELSE 'shipped' END,
       ((g * 37) % 100000) / 100.0, 1 + g % 9,
       timestamptz '2023-01-01' + g * interval '2 minutes', md5(g::text)
FROM generate_series(1, 200000) g;
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_created ON orders (created_at);

CREATE TABLE items (id bigint PRIMARY KEY, order_id bigint NOT NULL, product_id int NOT NULL, qty int NOT NULL, price numeric(10,2) NOT NULL);
INSERT INTO items
SELECT g, 1 + (g::bigint * 104729) % 200000, 1 + (g * 31) % 2000, 1 + g % 5, ((g * 13) % 50000) / 100.0
FROM generate_series(1, 200000) g;
CREATE INDEX items_product ON items (product_id);

CREATE TABLE products (id int PRIMARY KEY, sku text NOT NULL, category int NOT NULL, weight double precision NOT NULL);
INSERT INTO products SELECT g, 'sku-' || md5(g::text), g % 40, (g % 500) / 10.0 FROM generate_series(1, 2000) g;

CREATE TABLE price_bands (lo numeric(10,2) NOT NULL, hi numeric(10,2) NOT NULL, label text NOT NULL);
INSERT INTO price_bands SELECT (g - 1) * 1.00, g * 1.00, 'band ' || g FROM generate_series(1, 1000) g;

CREATE TABLE countries (id int PRIMARY KEY, iso char(2) NOT NULL, name text NOT NULL);
INSERT INTO countries SELECT g, chr(65 + g % 26) || chr(65 + g / 26 % 26), md5('country' || g) FROM generate_series(1, 200) g;

-- device_id determines site_id: the planner multiplies their selectivities and underestimates.
CREATE TABLE readings (id bigint PRIMARY KEY, device_id int NOT NULL, site_id int NOT NULL, value double precision NOT NULL, taken_at timestamptz NOT NULL);
INSERT INTO readings
SELECT g, g % 400, (g % 400) / 10, (g % 1000) / 7.0, timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 200000) g;
CREATE INDEX readings_device ON readings (device_id);

-- Statistics taken when the table held 1000 rows; autovacuum is off so they stay stale.
CREATE TABLE jobs (id bigint PRIMARY KEY, state text NOT NULL, queue int NOT NULL, payload text NOT NULL) WITH (autovacuum_enabled = false);
INSERT INTO jobs SELECT g, CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'done' END, g % 20, md5(g::text) FROM generate_series(1, 1000) g;
ANALYZE jobs;
INSERT INTO jobs SELECT g, 'queued', g % 20, md5(g::text) FROM generate_series(1001, 150000) g;
CREATE INDEX jobs_state ON jobs (state);

SET default_statistics_target = 1000;
VACUUM ANALYZE customers, orders, items, products, price_bands, countries, readings;
SQL

echo "== MariaDB: $db"
"${my[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
"${my[@]}" "$db" >/dev/null <<'SQL'
CREATE TABLE customers (
  id int PRIMARY KEY, region int NOT NULL, tier varchar(12) NOT NULL, name varchar(40) NOT NULL,
  code varchar(12) NOT NULL, email varchar(64) NOT NULL, created_at datetime NOT NULL,
  KEY customers_region (region), KEY customers_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
INSERT INTO customers
SELECT seq, seq % 50,
       CASE WHEN seq % 200 = 0 THEN 'enterprise' WHEN seq % 20 = 0 THEN 'pro' ELSE 'free' END,
       md5(concat('name', seq)), concat('C', lpad(seq, 8, '0')), concat(md5(concat('mail', seq)), '@example.test'),
       '2020-01-01' + INTERVAL seq HOUR
FROM seq_1_to_20000;

CREATE TABLE orders (
  id int PRIMARY KEY, customer_id int NOT NULL, status varchar(12) NOT NULL, total decimal(10,2) NOT NULL,
  qty int NOT NULL, created_at datetime NOT NULL, note char(32) NOT NULL,
  KEY orders_customer (customer_id), KEY orders_status (status), KEY orders_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO orders
SELECT seq, 1 + (seq * 7919) % 20000,
       CASE WHEN seq % 100 = 0 THEN 'refunded' WHEN seq % 10 = 0 THEN 'cancelled' WHEN seq % 3 = 0 THEN 'pending' ELSE 'shipped' END,
       ((seq * 37) % 100000) / 100, 1 + seq % 9, '2023-01-01' + INTERVAL (seq * 2) MINUTE, md5(seq)
FROM seq_1_to_200000;

CREATE TABLE items (
  id int PRIMARY KEY, order_id int NOT NULL, product_id int NOT NULL, qty int NOT NULL, price decimal(10,2) NOT NULL,
  KEY items_product (product_id)
) ENGINE=InnoDB;
INSERT INTO items
SELECT seq, 1 + (seq * 104729) % 200000, 1 + (seq * 31) % 2000, 1 + seq % 5, ((seq * 13) % 50000) / 100
FROM seq_1_to_200000;

CREATE TABLE products (id int PRIMARY KEY, sku varchar(40) NOT NULL, category int NOT NULL, weight double NOT NULL) ENGINE=InnoDB;
INSERT INTO products SELECT seq, concat('sku-', md5(seq)), seq % 40, (seq % 500) / 10 FROM seq_1_to_2000;

-- A legacy table in latin1 and one in utf8mb3: their codes are compared with customers.code (utf8mb4).
CREATE TABLE legacy_accounts (id int PRIMARY KEY, code varchar(12) NOT NULL, balance decimal(10,2) NOT NULL, KEY legacy_code (code))
  ENGINE=InnoDB DEFAULT CHARSET=latin1;
INSERT INTO legacy_accounts SELECT seq, concat('C', lpad(seq * 3, 8, '0')), seq % 1000 FROM seq_1_to_20000;
CREATE TABLE crm_contacts (id int PRIMARY KEY, customer_code varchar(12) NOT NULL, phone_hash char(32) NOT NULL, KEY crm_code (customer_code))
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb3;
INSERT INTO crm_contacts SELECT seq, concat('C', lpad(seq * 7, 8, '0')), md5(concat('p', seq)) FROM seq_1_to_30000;

CREATE TABLE customer_notes (id int PRIMARY KEY, customer_id int NOT NULL, body varchar(200) NOT NULL) ENGINE=InnoDB;
INSERT INTO customer_notes SELECT seq, 1 + (seq * 17) % 20000, md5(seq) FROM seq_1_to_20000;

-- A small lookup table with an index on a column the queries filter.
CREATE TABLE order_states (code varchar(12) PRIMARY KEY, label varchar(40) NOT NULL, is_final tinyint NOT NULL, KEY states_final (is_final)) ENGINE=InnoDB;
INSERT INTO order_states VALUES ('shipped','Shipped',1),('pending','Pending',0),('cancelled','Cancelled',1),('refunded','Refunded',1),('new','New',0),('held','On hold',0);

-- Tags and notes without an index on customer_id: joins between them have no key.
CREATE TABLE tags (id int PRIMARY KEY, customer_id int NOT NULL, tag varchar(20) NOT NULL) ENGINE=InnoDB;
INSERT INTO tags SELECT seq, 1 + (seq * 13) % 20000, concat('tag', seq % 300) FROM seq_1_to_20000;

ANALYZE TABLE customers, orders, items, products, legacy_accounts, crm_contacts, order_states, tags, customer_notes PERSISTENT FOR ALL;
SQL

# One case: name, mode (ANALYZE or EXPLAIN), setup (may be empty), statement.
pg_case() {
  local name=$1 setup=$2 sql=$3
  {
    echo "BEGIN;"
    if [ -n "$setup" ]; then printf '%s;\n' "$setup"; fi
    printf 'EXPLAIN (ANALYZE, FORMAT JSON) %s;\n' "$sql"
    echo "ROLLBACK;"
  } | "${pg[@]}" -d "$db" >"$stage/$name.json"
}
my_case() {
  local name=$1 mode=$2 setup=$3 sql=$4
  {
    if [ -n "$setup" ]; then printf '%s;\n' "$setup"; fi
    printf '%s FORMAT=JSON %s;\n' "$mode" "$sql"
  } | "${my[@]}" "$db" >"$stage/$name.json"
}
trim() { local s=$1; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

# name | mode | setup | statement (the statement may contain '|'; the other fields may not).
# pg_* cases run on PostgreSQL (always EXPLAIN (ANALYZE, FORMAT JSON)), my_* cases on MariaDB.
n=0
while IFS='|' read -r name mode setup sql; do
  name=$(trim "$name"); mode=$(trim "$mode"); setup=$(trim "$setup"); sql=$(trim "$sql")
  case "$name" in
    ''|'#'*) continue ;;
    pg_*) pg_case "$name" "$setup" "$sql" ;;
    my_*) my_case "$name" "$mode" "$setup" "$sql" ;;
    *) echo "unknown case prefix: $name" >&2; exit 1 ;;
  esac
  case "$(head -c 1 "$stage/$name.json")" in
    '['|'{') ;;
    *) echo "$name: no JSON plan" >&2; exit 1 ;;
  esac
  n=$((n + 1))
done <<'CASES'
pg_full_scan_unindexed_equality | ANALYZE |  | SELECT id, customer_id, total FROM orders WHERE note = 'c4ca4238a0b923820dcc509a6f75849b'
pg_full_scan_join_prefix_like | ANALYZE | SET LOCAL max_parallel_workers_per_gather = 0 | SELECT c.name, o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.note LIKE 'abc%'
pg_full_scan_orm_update | ANALYZE |  | UPDATE orders SET status = 'cancelled' WHERE note = 'c4ca4238a0b923820dcc509a6f75849b'
pg_full_scan_neg_small_table | ANALYZE |  | SELECT id, iso FROM countries WHERE name = 'nowhere'
pg_full_scan_neg_whole_table_aggregate | ANALYZE |  | SELECT sum(total) FROM orders
pg_full_scan_right_not_equal | ANALYZE |  | SELECT id, total FROM orders WHERE status <> 'cancelled'
pg_full_scan_right_parallel_group_by | ANALYZE |  | SELECT status, count(*) FROM orders WHERE created_at >= '2023-01-01' GROUP BY status
pg_hash_spill_join_small_work_mem | ANALYZE | SET LOCAL work_mem = '64kB' | SELECT o.id, o.status, i.price FROM orders o JOIN items i ON i.order_id = o.id
pg_hash_spill_left_join_group_by | ANALYZE | SET LOCAL work_mem = '64kB' | SELECT c.region, count(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.region
pg_hash_spill_semi_join_in_subquery | ANALYZE | SET LOCAL work_mem = '256kB' | SELECT id, total FROM orders WHERE id IN (SELECT order_id FROM items WHERE qty > 2)
pg_hash_spill_parallel_hash_join | ANALYZE | SET LOCAL work_mem = '64kB'; SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0 | SELECT i.product_id, count(*) FROM items i JOIN orders o ON o.id = i.order_id WHERE o.status <> 'refunded' GROUP BY i.product_id
pg_hash_spill_hash_aggregate | ANALYZE | SET LOCAL work_mem = '1MB' | SELECT note, count(*) FROM orders GROUP BY note
pg_hash_spill_neg_work_mem_raised | ANALYZE | SET LOCAL work_mem = '256MB' | SELECT o.id, o.status, i.price FROM orders o JOIN items i ON i.order_id = o.id
pg_hash_spill_neg_small_build_side | ANALYZE |  | SELECT p.sku, sum(i.qty) FROM items i JOIN products p ON p.id = i.product_id WHERE p.id <= 50 GROUP BY p.sku
pg_index_filter_discards_bitmap_range | ANALYZE |  | SELECT * FROM orders WHERE customer_id BETWEEN 1 AND 3000 AND status = 'refunded'
pg_index_filter_discards_order_by_limit | ANALYZE |  | SELECT id, customer_id, total FROM orders WHERE status = 'refunded' AND qty = 3 ORDER BY created_at LIMIT 20
pg_index_filter_discards_range_like | ANALYZE |  | SELECT id FROM orders WHERE created_at >= '2023-03-01' AND created_at < '2023-05-01' AND note LIKE 'ff%'
pg_index_filter_discards_orm_date_range | ANALYZE | SET LOCAL max_parallel_workers_per_gather = 0 | SELECT orders.id, orders.status, orders.total FROM orders WHERE orders.created_at >= '2023-02-01' AND orders.created_at < '2023-03-01' AND orders.status = 'refunded' AND orders.qty = 1
pg_index_filter_discards_neg_composite_index | ANALYZE | CREATE INDEX orders_customer_status ON orders (customer_id, status) | SELECT * FROM orders WHERE customer_id BETWEEN 1 AND 3000 AND status = 'refunded'
pg_index_filter_discards_neg_lossy_bitmap | ANALYZE | SET LOCAL work_mem = '64kB'; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL enable_seqscan = off | SELECT count(*), sum(total) FROM orders WHERE customer_id BETWEEN 1 AND 4000
pg_cte_materialized_explicit | ANALYZE |  | WITH c AS MATERIALIZED (SELECT * FROM orders) SELECT * FROM c WHERE id = 4242
pg_cte_materialized_aggregate | ANALYZE | SET LOCAL work_mem = '16MB' | WITH per_customer AS MATERIALIZED (SELECT customer_id, count(*) AS n, sum(total) AS spent FROM orders GROUP BY customer_id) SELECT * FROM per_customer WHERE customer_id = 42
pg_cte_materialized_referenced_twice | ANALYZE |  | WITH recent AS (SELECT * FROM orders WHERE created_at > '2023-06-01') SELECT (SELECT count(*) FROM recent WHERE customer_id = 7) AS n, (SELECT max(total) FROM recent WHERE customer_id = 7) AS top
pg_cte_materialized_hash_join | ANALYZE |  | WITH o AS MATERIALIZED (SELECT * FROM orders) SELECT cu.name, o.id, o.total FROM customers cu JOIN o ON o.customer_id = cu.id WHERE cu.code = '00000042'
pg_cte_neg_not_materialized | ANALYZE |  | WITH per_customer AS NOT MATERIALIZED (SELECT customer_id, count(*) AS n, sum(total) AS spent FROM orders GROUP BY customer_id) SELECT * FROM per_customer WHERE customer_id = 42
pg_cte_neg_whole_result_used | ANALYZE |  | WITH per_customer AS MATERIALIZED (SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id) SELECT max(n), avg(n) FROM per_customer
pg_implicit_cast_numeric_literal | ANALYZE |  | SELECT * FROM orders WHERE id = 4242.0
pg_implicit_cast_float_parameter | ANALYZE |  | SELECT id, total FROM orders WHERE customer_id = 42::double precision
pg_implicit_cast_join_bigint_numeric | ANALYZE |  | SELECT b.label, o.id FROM price_bands b JOIN orders o ON o.id = b.hi
pg_implicit_cast_char_vs_text | ANALYZE |  | SELECT id, name FROM customers WHERE code = '00004242'::text
pg_implicit_cast_between_full_index_scan | ANALYZE | SET LOCAL max_parallel_workers_per_gather = 0 | SELECT count(*) FROM orders WHERE customer_id BETWEEN 10.5 AND 12.5
pg_implicit_cast_neg_round_function | ANALYZE | SET LOCAL max_parallel_workers_per_gather = 0 | SELECT id, device_id FROM readings WHERE round(value::numeric, 1) = 12.6
pg_implicit_cast_neg_varchar_as_text | ANALYZE |  | SELECT id FROM customers WHERE email = 'x@example.test'::text
pg_row_estimate_miss_correlated_columns | ANALYZE | SET LOCAL max_parallel_workers_per_gather = 0 | SELECT id, value FROM readings WHERE device_id = 7 AND site_id = 0
pg_row_estimate_miss_stale_statistics | ANALYZE |  | SELECT id, payload FROM jobs WHERE state = 'queued' ORDER BY id
pg_row_estimate_neg_limit_zero_metadata | ANALYZE |  | SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id LIMIT 0
pg_sort_spill_order_by | ANALYZE | SET LOCAL work_mem = '64kB' | SELECT id, note FROM orders ORDER BY note
pg_sort_spill_offset_pagination | ANALYZE |  | SELECT id, total FROM orders ORDER BY total DESC, id OFFSET 150000 LIMIT 20
pg_sort_spill_incremental_sort | ANALYZE | SET LOCAL work_mem = '64kB' | SELECT id, region, name, email FROM customers ORDER BY region, name LIMIT 5000
pg_sort_spill_neg_work_mem_raised | ANALYZE | SET LOCAL work_mem = '64MB' | SELECT id, note FROM orders ORDER BY note
pg_sort_spill_neg_top_n_heapsort | ANALYZE |  | SELECT id, note FROM orders ORDER BY note LIMIT 10
pg_nested_loop_range_join | ANALYZE | SET LOCAL max_parallel_workers_per_gather = 0 | SELECT b.label, count(*) FROM orders o JOIN price_bands b ON o.total >= b.lo AND o.total < b.hi WHERE o.created_at < '2023-01-15' GROUP BY b.label
pg_nested_loop_forced_unindexed_join | ANALYZE | SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL max_parallel_workers_per_gather = 0 | SELECT o.id, i.id FROM orders o JOIN items i ON i.price = o.total WHERE o.created_at < '2023-01-15' AND i.product_id <= 10
pg_nested_loop_underestimated_outer | ANALYZE | SET LOCAL max_parallel_workers_per_gather = 0 | SELECT r.id, c.name FROM readings r JOIN customers c ON c.created_at BETWEEN r.taken_at - interval '1 hour' AND r.taken_at WHERE r.device_id = 7 AND r.site_id = 0 AND r.value < 3
pg_nested_loop_neg_indexed_inner | ANALYZE | SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL max_parallel_workers_per_gather = 0 | SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.created_at < '2023-01-20'
pg_nested_loop_neg_pagination_limit | ANALYZE |  | SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.id LIMIT 50

my_full_scan_unindexed_analyze | ANALYZE |  | SELECT id, total FROM orders WHERE note = 'c4ca4238a0b923820dcc509a6f75849b'
my_full_scan_type_mismatch | EXPLAIN |  | SELECT id, name FROM customers WHERE code = 42
my_full_scan_full_index_scan_expression | EXPLAIN |  | SELECT id FROM orders WHERE customer_id + 0 = 42
my_full_scan_neg_count_star | EXPLAIN |  | SELECT count(*) FROM orders
my_full_scan_right_analyze_range | ANALYZE |  | SELECT id, total FROM orders WHERE qty > 2
my_full_scan_right_not_equal_analyze | ANALYZE |  | SELECT id, customer_id, total FROM orders WHERE status <> 'cancelled'
my_full_scan_right_low_selectivity_estimate | EXPLAIN |  | SELECT id, total FROM orders WHERE status = 'shipped'
my_charset_conversion_covering_join | EXPLAIN |  | SELECT l.id, l.balance, c.id AS customer_id FROM legacy_accounts l JOIN customers c ON c.code = l.code WHERE l.balance > 990
my_charset_conversion_latin1_index_condition | EXPLAIN |  | SELECT c.id, c.name, l.balance FROM customers c JOIN legacy_accounts l ON l.code = c.code WHERE c.region = 3
my_charset_conversion_utf8mb3_driving_range | EXPLAIN |  | SELECT c.id, k.phone_hash FROM crm_contacts k JOIN customers c ON c.code = k.customer_code WHERE k.id < 500
my_charset_conversion_block_nested_loop | EXPLAIN |  | SELECT l.id, t.tag FROM legacy_accounts l JOIN tags t ON t.tag = l.code WHERE l.balance > 990
my_charset_neg_cset_narrowing | EXPLAIN | SET SESSION optimizer_switch = 'cset_narrowing=on' | SELECT c.id, k.phone_hash FROM customers c JOIN crm_contacts k ON k.customer_code = c.code WHERE c.region = 3
my_charset_neg_literal | EXPLAIN |  | SELECT id, balance FROM legacy_accounts WHERE code = 'C00000042'
my_no_usable_key_neg_index_merge | EXPLAIN |  | SELECT id, total FROM orders WHERE customer_id = 42 OR status = 'refunded'
my_no_usable_key_neg_tiny_lookup | EXPLAIN |  | SELECT code, label FROM order_states WHERE code IN ('shipped', 'pending', 'cancelled', 'refunded', 'held')
my_filesort_order_by_limit | EXPLAIN |  | SELECT id, customer_id, total FROM orders ORDER BY total DESC LIMIT 10
my_filesort_group_by_unindexed | EXPLAIN |  | SELECT qty, count(*), sum(total) FROM orders GROUP BY qty
my_filesort_sort_buffer_spill_analyze | ANALYZE | SET SESSION sort_buffer_size = 32768 | SELECT id, note FROM orders WHERE status = 'shipped' ORDER BY note
my_filesort_neg_few_rows | EXPLAIN |  | SELECT id, status, total FROM orders WHERE customer_id = 42 ORDER BY created_at DESC
my_temporary_table_distinct | EXPLAIN |  | SELECT DISTINCT qty FROM orders
my_temporary_table_union | EXPLAIN |  | SELECT code FROM customers WHERE region = 3 UNION SELECT code FROM legacy_accounts WHERE balance > 990
my_temporary_table_neg_group_by_index | EXPLAIN |  | SELECT customer_id, count(*) FROM orders GROUP BY customer_id
my_temporary_table_neg_union_all | EXPLAIN |  | SELECT code FROM customers WHERE region = 3 UNION ALL SELECT code FROM legacy_accounts WHERE id < 300
my_temporary_table_neg_few_rows | EXPLAIN |  | SELECT status, count(*) FROM orders WHERE customer_id = 42 GROUP BY status
my_nested_loop_block_join_filtered | EXPLAIN |  | SELECT t.tag, n.body FROM tags t JOIN customer_notes n ON n.customer_id = t.customer_id WHERE t.tag = 'tag7'
my_nested_loop_no_join_cache | EXPLAIN | SET SESSION join_cache_level = 0 | SELECT t.tag, n.body FROM tags t JOIN customer_notes n ON n.customer_id = t.customer_id WHERE t.tag = 'tag7'
my_nested_loop_range_join | EXPLAIN |  | SELECT c.id, t.tag FROM customers c JOIN tags t ON t.customer_id BETWEEN c.id AND c.id + 5 WHERE c.region = 3
my_nested_loop_group_by_block_join | EXPLAIN |  | SELECT t.tag, count(*) FROM tags t JOIN customer_notes n ON n.customer_id = t.customer_id GROUP BY t.tag
my_nested_loop_neg_indexed_fanout | EXPLAIN |  | SELECT c.id, c2.id FROM customers c JOIN customers c2 ON c2.region = c.region WHERE c.id <= 3000
my_row_estimate_miss_function_analyze | ANALYZE |  | SELECT id, name FROM customers WHERE lower(email) LIKE 'a%'
CASES

mkdir -p "$out"
rm -f "$out"/*.json
cp "$stage"/*.json "$out"/
echo "== $n plans written to $out in $((SECONDS - start)) s"
