-- 0004: the default model (issue 20, "A stable default"): at most one model is
-- flagged default (`shelfcast models default NAME`); a server without --model
-- whose start did not settle on an only model serves it to requests that name
-- none.  A change of the flag is announced to the servers like a status change.
ALTER TABLE shelfcast.models ADD COLUMN is_default boolean NOT NULL DEFAULT false;

CREATE UNIQUE INDEX models_one_default ON shelfcast.models ((true)) WHERE is_default;

CREATE FUNCTION shelfcast.notify_default_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('shelfcast_models',
        json_build_object('model', NEW.name, 'default', NEW.is_default)::text);
    RETURN NEW;
END
$$;

CREATE TRIGGER models_default_notify
    AFTER UPDATE OF is_default ON shelfcast.models
    FOR EACH ROW WHEN (OLD.is_default IS DISTINCT FROM NEW.is_default)
    EXECUTE FUNCTION shelfcast.notify_default_change();
