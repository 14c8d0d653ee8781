-- Facts about a statement's literals that strict scrubbing erases, taken by the agent before scrubbing
-- (the kind of a literal compared with a column, a JSON key): the analyzer reads the newest of a class.
ALTER TABLE slow_queries ADD COLUMN hints JSONB;
