-- Re-analysis on new evidence. A running job no longer blocks queuing the next one: evidence that
-- arrives while a class is being analysed (its plan, shipped a moment after the first sample) queues a
-- job of its own. At most one job per class is QUEUED; evidence that finds one joins it.
DROP INDEX analysis_jobs_one_pending_idx;
CREATE UNIQUE INDEX analysis_jobs_one_queued_idx ON analysis_jobs(class_id) WHERE status = 'queued';

-- A queued job is claimed only once it is due: the debounce window (`analysis_debounce_ms`) lets
-- evidence arriving within it join the one queued job. Existing jobs are due at once.
ALTER TABLE analysis_jobs ADD COLUMN not_before TIMESTAMPTZ;
UPDATE analysis_jobs SET not_before = created_at;
ALTER TABLE analysis_jobs ALTER COLUMN not_before SET NOT NULL;

-- The class's max_time_ms before its latest upsert, set by that upsert, so that the upsert's RETURNING
-- tells a markedly worse execution (more than twice the previous maximum) in the same statement.
ALTER TABLE query_classes ADD COLUMN prev_max_time_ms DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE query_classes SET prev_max_time_ms = max_time_ms;
