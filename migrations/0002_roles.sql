-- 0002: least privilege.  Two group roles (no login):
--   shelfcast_reader  what `serve` needs: read the registry (and LISTEN, which needs no grant)
--   shelfcast_writer  what `train`, `models ...` and activation need: read and change it
-- Login roles join one of them (README, "Least privilege").  Roles belong to the whole
-- cluster, so they are created once; the grants are per database.  A migrating role
-- without CREATEROLE skips the roles (with a notice) instead of failing the migration.
DO $$
BEGIN
    BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_reader') THEN
            CREATE ROLE shelfcast_reader NOLOGIN;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_writer') THEN
            CREATE ROLE shelfcast_writer NOLOGIN;
        END IF;
    EXCEPTION
        WHEN insufficient_privilege THEN
            RAISE NOTICE 'shelfcast: no CREATEROLE privilege, roles shelfcast_reader/_writer not created';
        WHEN duplicate_object THEN
            NULL; -- created meanwhile by a migration of another database
    END;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_reader') THEN
        GRANT USAGE ON SCHEMA shelfcast TO shelfcast_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA shelfcast TO shelfcast_reader;
        ALTER DEFAULT PRIVILEGES IN SCHEMA shelfcast GRANT SELECT ON TABLES TO shelfcast_reader;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_writer') THEN
        GRANT USAGE ON SCHEMA shelfcast TO shelfcast_writer;
        GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA shelfcast TO shelfcast_writer;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA shelfcast TO shelfcast_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA shelfcast GRANT SELECT, INSERT, UPDATE ON TABLES TO shelfcast_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA shelfcast GRANT USAGE, SELECT ON SEQUENCES TO shelfcast_writer;
    END IF;
END
$$;
