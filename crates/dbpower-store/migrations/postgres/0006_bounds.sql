-- Ingestion now refuses out-of-range numbers (execution_time_ms and lock_time_ms 0..2,592,000,000,
-- calls 1..10^10, rows 0..10^15) and aggregates saturate instead of overflowing. Rows stored before
-- that may hold values outside those bounds, or classes a hostile batch pushed to the top of BIGINT or to
-- an infinite or NaN total (after which every batch touching the class failed). Clamp them back so each
-- class accepts new batches and reads again. (NaN sorts above every number in PostgreSQL, so the
-- "outside the range" tests below catch it.)
UPDATE slow_queries SET calls = LEAST(GREATEST(calls, 1), 10000000000)
 WHERE calls < 1 OR calls > 10000000000;
UPDATE slow_queries SET rows_examined = LEAST(GREATEST(rows_examined, 0), 1000000000000000)
 WHERE rows_examined < 0 OR rows_examined > 1000000000000000;
UPDATE slow_queries SET rows_sent = LEAST(GREATEST(rows_sent, 0), 1000000000000000)
 WHERE rows_sent < 0 OR rows_sent > 1000000000000000;
UPDATE slow_queries SET rows_affected = LEAST(GREATEST(rows_affected, 0), 1000000000000000)
 WHERE rows_affected < 0 OR rows_affected > 1000000000000000;
UPDATE slow_queries SET execution_time_ms = LEAST(GREATEST(execution_time_ms, 0), 2592000000)
 WHERE execution_time_ms < 0 OR execution_time_ms > 2592000000;
UPDATE slow_queries SET lock_time_ms = LEAST(GREATEST(lock_time_ms, 0), 2592000000)
 WHERE lock_time_ms < 0 OR lock_time_ms > 2592000000;

UPDATE query_classes SET count = GREATEST(count, 0) WHERE count < 0;
UPDATE query_classes SET rows_examined = GREATEST(rows_examined, 0) WHERE rows_examined < 0;
UPDATE query_classes SET rows_sent = GREATEST(rows_sent, 0) WHERE rows_sent < 0;
UPDATE query_classes SET total_time_ms = LEAST(GREATEST(total_time_ms, 0), 1e18)
 WHERE total_time_ms < 0 OR total_time_ms > 1e18;
UPDATE query_classes SET lock_time_ms = LEAST(GREATEST(lock_time_ms, 0), 1e18)
 WHERE lock_time_ms < 0 OR lock_time_ms > 1e18;
UPDATE query_classes SET min_time_ms = LEAST(GREATEST(min_time_ms, 0), 2592000000)
 WHERE min_time_ms < 0 OR min_time_ms > 2592000000;
UPDATE query_classes SET max_time_ms = LEAST(GREATEST(max_time_ms, 0), 2592000000)
 WHERE max_time_ms < 0 OR max_time_ms > 2592000000;
UPDATE query_classes SET p95_time_ms = LEAST(GREATEST(p95_time_ms, 0), 2592000000)
 WHERE p95_time_ms < 0 OR p95_time_ms > 2592000000;
UPDATE query_classes SET p99_time_ms = LEAST(GREATEST(p99_time_ms, 0), 2592000000)
 WHERE p99_time_ms < 0 OR p99_time_ms > 2592000000;

UPDATE class_histogram SET count = GREATEST(count, 0) WHERE count < 0;

UPDATE query_rollups SET count = GREATEST(count, 0) WHERE count < 0;
UPDATE query_rollups SET row_count = GREATEST(row_count, 0) WHERE row_count < 0;
UPDATE query_rollups SET total_time_ms = LEAST(GREATEST(total_time_ms, 0), 1e18)
 WHERE total_time_ms < 0 OR total_time_ms > 1e18;
UPDATE query_rollups SET max_time_ms = LEAST(GREATEST(max_time_ms, 0), 2592000000)
 WHERE max_time_ms < 0 OR max_time_ms > 2592000000;
