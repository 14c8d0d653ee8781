-- Closing the loop on index advice (docs/ANALYSIS.md, "Applied advice"): when a schema snapshot first
-- shows an index that serves a recommendation, the recommendation is kept with when it was seen and the
-- index's name; the class's latency before and after is read from its hourly histograms.
ALTER TABLE index_validations ADD COLUMN realized_at TEXT;
ALTER TABLE index_validations ADD COLUMN realized_index TEXT;
