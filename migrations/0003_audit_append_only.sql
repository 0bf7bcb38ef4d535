-- 0003: the audit log is append-only, and only migrate's role writes schema_migrations
-- (docs/security.md, "Audit log").
--   model_events       shelfcast_writer may INSERT (and read); nobody may UPDATE, DELETE or
--                      TRUNCATE it: the grants are taken back, and a trigger refuses the
--                      three for every role, the table's owner and superusers included
--                      (only they could drop the trigger, and that is itself a schema change)
--   schema_migrations  read by both group roles, written only by the role that migrates
--                      (the owner of the schema), which no serving or training role is
-- 0002 granted the writer INSERT and UPDATE on every table of the schema; this narrows it.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_writer') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON shelfcast.model_events FROM shelfcast_writer;
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON shelfcast.schema_migrations FROM shelfcast_writer;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_reader') THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON shelfcast.model_events, shelfcast.schema_migrations
            FROM shelfcast_reader;
    END IF;
END
$$;
REVOKE ALL ON shelfcast.model_events, shelfcast.schema_migrations FROM PUBLIC;

CREATE FUNCTION shelfcast.refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'shelfcast.model_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER model_events_append_only
    BEFORE UPDATE OR DELETE ON shelfcast.model_events
    FOR EACH ROW EXECUTE FUNCTION shelfcast.refuse_audit_change();
CREATE TRIGGER model_events_no_truncate
    BEFORE TRUNCATE ON shelfcast.model_events
    FOR EACH STATEMENT EXECUTE FUNCTION shelfcast.refuse_audit_change();
