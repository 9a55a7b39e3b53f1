-- The `quotes` collection gets a table of its own: the storage layer keeps a declared collection's
-- records in `<plugin>_<collection>` when the plugin's migrations created it (docs/database.md).
-- Portable SQL: the same file runs on SQLite and PostgreSQL.
-- UP
CREATE TABLE quotes_quotes (
    "key" VARCHAR(256) NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "created_at" BIGINT NOT NULL,
    "updated_at" BIGINT NOT NULL
);

-- DOWN
DROP TABLE quotes_quotes;
