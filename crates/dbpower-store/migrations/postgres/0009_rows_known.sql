-- Executions of a class that reported rows examined. pg_stat_statements and the PostgreSQL log report
-- none, so a PostgreSQL class's rows examined (and rows ratio) are unknown, not 0: they are shown only
-- when this is above 0. Existing classes: known when any were counted, or when they are MySQL's.
ALTER TABLE query_classes ADD COLUMN rows_known BIGINT NOT NULL DEFAULT 0;
UPDATE query_classes SET rows_known = count WHERE rows_examined > 0 OR database_type <> 'postgresql';
