-- Files uploaded on the /import page, kept in the database until their import job has run:
-- a Celery worker on another machine reads the bytes from here (no shared disk). A row
-- belongs to the user who uploaded it (geo.importers.uploads checks the owner and the
-- data.import permission at every read); it is deleted once its import has committed or
-- been refused, and rows older than a day are purged whenever a file is uploaded (an import
-- cancelled or lost with its worker keeps its file for a new run until then).

CREATE TABLE import_uploads (
    id          uuid PRIMARY KEY,
    owner       text NOT NULL CHECK (length(owner) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind ~ '^[a-z-]{1,20}$'),
    file_name   text NOT NULL CHECK (length(file_name) BETWEEN 1 AND 200),
    size_bytes  bigint NOT NULL CHECK (size_bytes > 0),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    data        bytea NOT NULL CHECK (octet_length(data) = size_bytes),
    source      data_source NOT NULL DEFAULT 'imported'
);

-- the stored bytes are already compressed formats or text read once: no TOAST compression
ALTER TABLE import_uploads ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE INDEX import_uploads_created ON import_uploads (created_at);
CREATE INDEX import_uploads_owner ON import_uploads (owner);

COMMENT ON TABLE import_uploads IS
    'files uploaded for an import job (the /import page); deleted after the job, purged after a day';
