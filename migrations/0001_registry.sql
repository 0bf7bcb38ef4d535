-- 0001: the model registry (ARCHITECTURE.md, "PostgreSQL registry").
-- Applied by `shelfcast migrate` inside one transaction, under an advisory lock.

CREATE SCHEMA IF NOT EXISTS shelfcast;

CREATE TABLE shelfcast.models (
    name        text PRIMARY KEY
                CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shelfcast.model_versions (
    model        text NOT NULL REFERENCES shelfcast.models (name) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version > 0),
    status       text NOT NULL DEFAULT 'staged'
                 CHECK (status IN ('staged', 'active', 'archived', 'failed')),
    spec         jsonb NOT NULL,
    metrics      jsonb NOT NULL DEFAULT '{}',
    training     jsonb NOT NULL DEFAULT '{}',
    checksum     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    PRIMARY KEY (model, version)
);

-- At most one active version per model.
CREATE UNIQUE INDEX model_versions_one_active
    ON shelfcast.model_versions (model) WHERE status = 'active';

CREATE TABLE shelfcast.model_tensors (
    model   text NOT NULL,
    version integer NOT NULL,
    name    text NOT NULL,
    dtype   text NOT NULL,
    shape   integer[] NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (model, version, name),
    FOREIGN KEY (model, version)
        REFERENCES shelfcast.model_versions (model, version) ON DELETE CASCADE
);
-- float32 weights do not compress: store them out of line, uncompressed.
ALTER TABLE shelfcast.model_tensors ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE shelfcast.model_events (
    id      bigserial PRIMARY KEY,
    model   text NOT NULL,
    version integer,
    event   text NOT NULL,
    actor   text NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX model_events_by_model ON shelfcast.model_events (model, id);

-- Every status change (and every new version) is announced to the servers.
CREATE FUNCTION shelfcast.notify_model_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM pg_notify('shelfcast_models',
            json_build_object('model', NEW.model, 'version', NEW.version,
                              'status', NEW.status)::text);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER model_versions_notify
    AFTER INSERT OR UPDATE OF status ON shelfcast.model_versions
    FOR EACH ROW EXECUTE FUNCTION shelfcast.notify_model_change();
