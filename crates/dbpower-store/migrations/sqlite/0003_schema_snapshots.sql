-- Schema snapshots shipped by agents beside slow queries (tables, columns, indexes, row estimates), read
-- by the analyzer for schema-aware index advice.
ALTER TABLE slow_queries ADD COLUMN schema_snapshot TEXT;
