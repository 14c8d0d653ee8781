-- slow_queries becomes range-partitioned by observed_at, one partition per UTC day, so that retention
-- drops whole days instead of deleting rows (docs/SCALING.md, "Partitions"). The table as it was, when
-- it holds rows, is attached whole as the first partition, slow_queries_legacy, covering everything up to the end of the
-- day of its newest row: no row is copied, the existing indexes are adopted as the partition's, and
-- only a unique index on (id, observed_at) is built (the primary key of a partitioned table must hold
-- the partition key). Rows outside every partition land in slow_queries_default (ingestion bounds
-- observed_at, so that is rare); making a day's partition moves that day's rows out of it.

ALTER TABLE slow_queries RENAME TO slow_queries_legacy;
ALTER INDEX slow_queries_pkey RENAME TO slow_queries_legacy_pkey;
ALTER INDEX slow_queries_org_observed_idx RENAME TO slow_queries_legacy_org_observed_idx;
ALTER INDEX slow_queries_org_time_idx RENAME TO slow_queries_legacy_org_time_idx;
ALTER INDEX slow_queries_class_idx RENAME TO slow_queries_legacy_class_idx;
ALTER INDEX slow_queries_team_idx RENAME TO slow_queries_legacy_team_idx;
ALTER INDEX slow_queries_identity_idx RENAME TO slow_queries_legacy_identity_idx;
ALTER INDEX slow_queries_class_key_idx RENAME TO slow_queries_legacy_class_key_idx;

CREATE TABLE slow_queries (LIKE slow_queries_legacy INCLUDING DEFAULTS)
    PARTITION BY RANGE (observed_at);
-- The id sequence outlives the legacy partition (which retention drops one day).
ALTER SEQUENCE slow_queries_id_seq OWNED BY slow_queries.id;
ALTER TABLE slow_queries ADD PRIMARY KEY (id, observed_at);
ALTER TABLE slow_queries ADD FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE slow_queries ADD FOREIGN KEY (class_id) REFERENCES query_classes(id) ON DELETE CASCADE;
CREATE INDEX slow_queries_org_observed_idx ON slow_queries(organization_id, observed_at DESC, id DESC);
CREATE INDEX slow_queries_org_time_idx ON slow_queries(organization_id, execution_time_ms DESC);
CREATE INDEX slow_queries_class_idx ON slow_queries(class_id);
CREATE INDEX slow_queries_team_idx ON slow_queries(organization_id, team_id, observed_at DESC);
CREATE INDEX slow_queries_identity_idx ON slow_queries(organization_id, identity_id, observed_at DESC);
CREATE INDEX slow_queries_class_key_idx ON slow_queries(class_id, api_key_id, id);

-- The partitions of a range-partitioned table with their bounds (-infinity for MINVALUE); the default
-- partition is not listed.
CREATE FUNCTION dbpower_partitions(parent regclass)
RETURNS TABLE (name text, lo timestamptz, hi timestamptz) AS $$
    SELECT c.relname::text,
           CASE WHEN b LIKE 'FOR VALUES FROM (MINVALUE)%' THEN '-infinity'::timestamptz
                ELSE (regexp_match(b, 'FROM \(''([^'']+)''\)'))[1]::timestamptz END,
           (regexp_match(b, 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL pg_get_expr(c.relpartbound, c.oid) AS b
    WHERE i.inhparent = parent AND b <> 'DEFAULT'
$$ LANGUAGE sql STABLE;

-- Makes the partition of slow_queries for one UTC day unless a partition already covers it, moving the
-- day's rows out of the default partition first. True when it made one. Serialized by a transaction
-- lock, so backends starting together do not race.
CREATE FUNCTION dbpower_slow_queries_partition(day date) RETURNS boolean AS $$
DECLARE
    part text := 'slow_queries_' || to_char(day, 'YYYYMMDD');
    day_lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
    day_hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    PERFORM pg_advisory_xact_lock(7360531802437215081);
    IF EXISTS (SELECT 1 FROM dbpower_partitions('slow_queries') p WHERE p.lo < day_hi AND p.hi > day_lo) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE slow_queries INCLUDING DEFAULTS)', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM slow_queries_default WHERE observed_at >= %L AND observed_at < %L '
        'RETURNING *) INSERT INTO %I SELECT * FROM moved', day_lo, day_hi, part);
    EXECUTE format('ALTER TABLE slow_queries ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        part, day_lo, day_hi);
    RETURN true;
END
$$ LANGUAGE plpgsql;

-- A new installation has nothing to keep: the empty table goes.
DO $$
DECLARE
    upper_day date :=
        ((SELECT max(observed_at) FROM slow_queries_legacy) AT TIME ZONE 'UTC')::date + 1;
BEGIN
    IF upper_day IS NULL THEN
        DROP TABLE slow_queries_legacy;
        RETURN;
    END IF;
    CREATE UNIQUE INDEX IF NOT EXISTS slow_queries_legacy_id_observed_idx
        ON slow_queries_legacy (id, observed_at);
    -- its key becomes the partitioned table's (id, observed_at), served by the index above
    ALTER TABLE slow_queries_legacy DROP CONSTRAINT slow_queries_legacy_pkey;
    EXECUTE format(
        'ALTER TABLE slow_queries ATTACH PARTITION slow_queries_legacy FOR VALUES FROM (MINVALUE) TO (%L)',
        upper_day::timestamp AT TIME ZONE 'UTC');
END
$$;

CREATE TABLE slow_queries_default PARTITION OF slow_queries DEFAULT;

-- Yesterday to a week ahead; the platform keeps making them (Store::maintain_partitions).
SELECT dbpower_slow_queries_partition(((now() AT TIME ZONE 'UTC')::date + k))
FROM generate_series(-1, 7) AS k;
