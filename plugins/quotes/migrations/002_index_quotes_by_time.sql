-- Newest-first listings (and operators' SQL) read quotes by insertion time.
-- UP
CREATE INDEX quotes_quotes_created_at_idx ON quotes_quotes ("created_at");

-- DOWN
DROP INDEX quotes_quotes_created_at_idx;
