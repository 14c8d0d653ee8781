-- Ingestion now refuses out-of-range numbers (execution_time_ms and lock_time_ms 0..2,592,000,000,
-- calls 1..10^10, rows 0..10^15) and aggregates saturate instead of overflowing. Rows stored before
-- that may hold values outside those bounds, or classes a hostile batch pushed to the top of BIGINT or to
-- an infinite or NaN total (after which every batch touching the class failed). Clamp them back so each
-- class accepts new batches and reads again. (SQLite turns an overflowing integer sum into a REAL: those are
-- clamped and cast back to INTEGER; it stores NaN as NULL, which NOT NULL columns never hold.)
UPDATE slow_queries SET calls = MIN(MAX(calls, 1), 10000000000)
 WHERE calls < 1 OR calls > 10000000000;
UPDATE slow_queries SET rows_examined = MIN(MAX(rows_examined, 0), 1000000000000000)
 WHERE rows_examined < 0 OR rows_examined > 1000000000000000;
UPDATE slow_queries SET rows_sent = MIN(MAX(rows_sent, 0), 1000000000000000)
 WHERE rows_sent < 0 OR rows_sent > 1000000000000000;
UPDATE slow_queries SET rows_affected = MIN(MAX(rows_affected, 0), 1000000000000000)
 WHERE rows_affected < 0 OR rows_affected > 1000000000000000;
UPDATE slow_queries SET execution_time_ms = MIN(MAX(execution_time_ms, 0), 2592000000)
 WHERE execution_time_ms < 0 OR execution_time_ms > 2592000000;
UPDATE slow_queries SET lock_time_ms = MIN(MAX(lock_time_ms, 0), 2592000000)
 WHERE lock_time_ms < 0 OR lock_time_ms > 2592000000;

UPDATE query_classes SET count = MAX(count, 0) WHERE count < 0;
UPDATE query_classes SET rows_examined = MAX(rows_examined, 0) WHERE rows_examined < 0;
UPDATE query_classes SET rows_sent = MAX(rows_sent, 0) WHERE rows_sent < 0;
UPDATE query_classes SET total_time_ms = MIN(MAX(total_time_ms, 0), 1e18)
 WHERE total_time_ms < 0 OR total_time_ms > 1e18;
UPDATE query_classes SET lock_time_ms = MIN(MAX(lock_time_ms, 0), 1e18)
 WHERE lock_time_ms < 0 OR lock_time_ms > 1e18;
UPDATE query_classes SET min_time_ms = MIN(MAX(min_time_ms, 0), 2592000000)
 WHERE min_time_ms < 0 OR min_time_ms > 2592000000;
UPDATE query_classes SET max_time_ms = MIN(MAX(max_time_ms, 0), 2592000000)
 WHERE max_time_ms < 0 OR max_time_ms > 2592000000;
UPDATE query_classes SET p95_time_ms = MIN(MAX(p95_time_ms, 0), 2592000000)
 WHERE p95_time_ms < 0 OR p95_time_ms > 2592000000;
UPDATE query_classes SET p99_time_ms = MIN(MAX(p99_time_ms, 0), 2592000000)
 WHERE p99_time_ms < 0 OR p99_time_ms > 2592000000;

UPDATE class_histogram SET count = MAX(count, 0) WHERE count < 0;

UPDATE query_rollups SET count = MAX(count, 0) WHERE count < 0;
UPDATE query_rollups SET row_count = MAX(row_count, 0) WHERE row_count < 0;
UPDATE query_rollups SET total_time_ms = MIN(MAX(total_time_ms, 0), 1e18)
 WHERE total_time_ms < 0 OR total_time_ms > 1e18;
UPDATE query_rollups SET max_time_ms = MIN(MAX(max_time_ms, 0), 2592000000)
 WHERE max_time_ms < 0 OR max_time_ms > 2592000000;

UPDATE query_classes SET count = CAST(MIN(MAX(count, 0), 9223372036854775807) AS INTEGER) WHERE typeof(count) <> 'integer';
UPDATE query_classes SET rows_examined = CAST(MIN(MAX(rows_examined, 0), 9223372036854775807) AS INTEGER) WHERE typeof(rows_examined) <> 'integer';
UPDATE query_classes SET rows_sent = CAST(MIN(MAX(rows_sent, 0), 9223372036854775807) AS INTEGER) WHERE typeof(rows_sent) <> 'integer';
UPDATE class_histogram SET count = CAST(MIN(MAX(count, 0), 9223372036854775807) AS INTEGER) WHERE typeof(count) <> 'integer';
UPDATE query_rollups SET count = CAST(MIN(MAX(count, 0), 9223372036854775807) AS INTEGER) WHERE typeof(count) <> 'integer';
UPDATE query_rollups SET row_count = CAST(MIN(MAX(row_count, 0), 9223372036854775807) AS INTEGER) WHERE typeof(row_count) <> 'integer';
