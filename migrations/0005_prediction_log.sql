-- 0005: the prediction log and outcomes (issue 17; docs/monitoring.md).
--   predictions  what a server answered, one row per prediction, written off the request
--                path by each server's logger thread (COPY, in batches).  Range-partitioned
--                by day on `at`: the logger creates the days ahead and drops the days past
--                its retention through shelfcast.prediction_partitions (a partition dropped
--                is a whole day gone at once, no DELETE, no vacuum debt).  A DEFAULT
--                partition catches a row whose day was not created (a clock far ahead).
--   outcomes     what happened to a prediction: units sold, exposed or not.  One per
--                prediction (a second replaces the first).  predicted_at is the
--                prediction's own time, so a join to predictions touches one partition.
-- The prediction id is a UUIDv7: its first 48 bits are the prediction's unix time in
-- milliseconds, which is `at` exactly, so an outcome finds its prediction's partition from
-- the id alone (shelfcast.prediction_time).
--
-- Roles (0002): the serving role (shelfcast_reader) may INSERT predictions but read
-- neither table: it records outcomes and reads live accuracy only through the two
-- SECURITY DEFINER functions below, which return counts and aggregates, never a row's
-- features or units.  shelfcast_writer (training, `outcomes import`) reads both and
-- writes outcomes; nobody but the migrating role updates or deletes predictions.

CREATE TABLE shelfcast.predictions (
    prediction_id        uuid NOT NULL,
    at                   timestamptz NOT NULL,
    model                text NOT NULL,
    version              integer NOT NULL,
    features             json NOT NULL,
    promotion_level      integer NOT NULL,
    price                double precision,
    predicted_sales      double precision NOT NULL,
    expected_sales       double precision NOT NULL,
    exposure_probability double precision NOT NULL,
    sales_t              double precision NOT NULL,   -- the sales head in the target's scale
    log_target           boolean NOT NULL,           -- that scale is log1p(units)
    interval_lower       double precision,
    interval_upper       double precision,
    interval_coverage    double precision
) PARTITION BY RANGE (at);
-- One index: outcomes find their prediction by id (in the day the id names).  Every read
-- of the log goes through outcomes, so nothing else is indexed: each index is paid for on
-- every logged prediction.
CREATE INDEX predictions_by_id ON shelfcast.predictions (prediction_id);
CREATE TABLE shelfcast.predictions_default PARTITION OF shelfcast.predictions DEFAULT;

CREATE TABLE shelfcast.outcomes (
    prediction_id uuid PRIMARY KEY,
    predicted_at  timestamptz NOT NULL,
    units         double precision NOT NULL CHECK (units >= 0 AND units < 'Infinity'),
    exposed       boolean,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcomes_by_time ON shelfcast.outcomes (predicted_at);

-- The time a prediction id carries (UUIDv7: unix milliseconds in the first 48 bits).
CREATE FUNCTION shelfcast.prediction_time(id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT timestamptz 'epoch' +
           ('x' || lpad(substr(replace(id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint
           * interval '1 millisecond'
$$;

-- Create the day partitions from yesterday to `ahead` days ahead (UTC), drop the ones that
-- ended `retention_days` days ago or more, and the outcomes of those days.  Returns the
-- partitions created and dropped.  Called by each server's logger (as often as hourly).
CREATE FUNCTION shelfcast.prediction_partitions(retention_days integer, ahead integer DEFAULT 2,
                                                OUT created integer, OUT dropped integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    d date;
    part text;
    r record;
BEGIN
    created := 0;
    dropped := 0;
    IF retention_days < 1 OR ahead < 0 OR ahead > 31 THEN
        RAISE EXCEPTION 'prediction_partitions: retention_days must be at least 1, ahead 0 to 31';
    END IF;
    -- one server at a time: two replicas starting together must not race on CREATE TABLE
    PERFORM pg_advisory_xact_lock(8316008228188283252);
    FOR d IN SELECT generate_series(today - 1, today + ahead, interval '1 day')::date LOOP
        part := 'predictions_' || to_char(d, 'YYYYMMDD');
        CONTINUE WHEN to_regclass('shelfcast.' || part) IS NOT NULL;
        BEGIN
            EXECUTE format('CREATE TABLE shelfcast.%I PARTITION OF shelfcast.predictions '
                           'FOR VALUES FROM (%L) TO (%L)', part,
                           (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_reader') THEN
                EXECUTE format('REVOKE ALL ON shelfcast.%I FROM shelfcast_reader', part);
            END IF;
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_writer') THEN
                EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON shelfcast.%I FROM shelfcast_writer', part);
            END IF;
            created := created + 1;
        EXCEPTION WHEN check_violation THEN
            -- the default partition already holds rows of that day: they stay there
            RAISE NOTICE 'shelfcast: partition % not created: the default partition holds its rows', part;
        END;
    END LOOP;
    FOR r IN SELECT c.relname FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE i.inhparent = 'shelfcast.predictions'::regclass AND n.nspname = 'shelfcast'
                AND c.relname ~ '^predictions_[0-9]{8}$'
                AND to_date(substr(c.relname, 13), 'YYYYMMDD') + 1 <= today - retention_days LOOP
        EXECUTE format('DROP TABLE shelfcast.%I', r.relname);
        dropped := dropped + 1;
    END LOOP;
    DELETE FROM shelfcast.outcomes
     WHERE predicted_at < (today - retention_days)::timestamp AT TIME ZONE 'UTC';
    DELETE FROM shelfcast.predictions_default
     WHERE at < (today - retention_days)::timestamp AT TIME ZONE 'UTC';
END
$$;

-- Record outcomes (POST /v1/outcomes, `shelfcast outcomes import`): ids, units and exposed
-- (NULL: not known) side by side.  An id whose prediction is not in the log is counted in
-- unknown_prediction and not recorded; an id that already had an outcome, or that comes
-- twice in the call (the last one wins), replaces it and is counted in duplicate.
-- accepted counts every recorded outcome, replacements included.
CREATE FUNCTION shelfcast.record_outcomes(ids uuid[], units double precision[], exposed boolean[],
                                          OUT accepted integer, OUT unknown_prediction integer,
                                          OUT duplicate integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    total integer := coalesce(cardinality(ids), 0);
    known_rows integer;
    known_ids integer;
    replaced integer;
BEGIN
    IF total <> coalesce(cardinality(units), 0) OR total <> coalesce(cardinality(exposed), 0) THEN
        RAISE EXCEPTION 'record_outcomes: ids, units and exposed must be as long';
    END IF;
    WITH given AS (
        SELECT u.id, u.units, u.exposed, u.ord, shelfcast.prediction_time(u.id) AS at
          FROM unnest(ids, units, exposed) WITH ORDINALITY AS u(id, units, exposed, ord)),
    known AS (
        SELECT g.* FROM given g
         WHERE EXISTS (SELECT FROM shelfcast.predictions p
                        WHERE p.prediction_id = g.id AND p.at = g.at)),
    last AS (
        SELECT DISTINCT ON (id) * FROM known ORDER BY id, ord DESC),
    up AS (
        INSERT INTO shelfcast.outcomes AS o (prediction_id, predicted_at, units, exposed)
        SELECT id, at, last.units, last.exposed FROM last
        ON CONFLICT (prediction_id) DO UPDATE
           SET units = excluded.units, exposed = excluded.exposed, recorded_at = now()
        RETURNING (xmax <> 0) AS was_there)
    SELECT (SELECT count(*) FROM known), (SELECT count(*) FROM last),
           (SELECT count(*) FILTER (WHERE was_there) FROM up)
      INTO known_rows, known_ids, replaced;
    accepted := known_rows;
    unknown_prediction := total - known_rows;
    duplicate := replaced + (known_rows - known_ids);
END
$$;

-- Live accuracy of every model version with outcomes whose predictions are at most
-- window_days old, as the trainer defines its metrics (src/train/evaluate.c): r2 and MAE
-- in the target's scale (log1p(units) for a log target), WMAPE in units, AUC as
-- Mann-Whitney with ties sharing their average rank (0.5 when one class is missing, NULL
-- with no exposure labels), and the share of outcomes inside the predicted interval.
CREATE FUNCTION shelfcast.live_metrics(window_days double precision)
RETURNS TABLE (model text, version integer, outcomes bigint, since timestamptz,
               sales_r2_log double precision, sales_mae_log double precision,
               sales_wmape double precision, exposure_auc double precision,
               interval_coverage double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH j AS (
        SELECT p.model, p.version, p.at, p.sales_t AS tp,
               CASE WHEN p.log_target THEN ln(1 + o.units) ELSE o.units END AS tt,
               p.predicted_sales AS up, o.units AS ut, p.exposure_probability AS ep, o.exposed,
               p.interval_lower AS lo, p.interval_upper AS hi
          FROM shelfcast.outcomes o
          JOIN shelfcast.predictions p ON p.prediction_id = o.prediction_id AND p.at = o.predicted_at
         WHERE o.predicted_at >= now() - window_days * interval '1 day'),
    c AS (
        SELECT j.*, avg(tt) OVER (PARTITION BY j.model, j.version) AS mean_t FROM j),
    sales AS (
        SELECT c.model, c.version, count(*) AS n, min(c.at) AS since,
               CASE WHEN sum((tt - mean_t) ^ 2) > 0
                    THEN 1 - sum((tp - tt) ^ 2) / sum((tt - mean_t) ^ 2) ELSE 0 END AS r2,
               avg(abs(tp - tt)) AS mae,
               CASE WHEN sum(ut) > 0 THEN sum(abs(up - ut)) / sum(ut) ELSE 0 END AS wmape,
               avg(CASE WHEN lo IS NULL THEN NULL WHEN ut >= lo AND ut <= hi THEN 1.0 ELSE 0.0 END)::double precision
                   AS coverage
          FROM c GROUP BY c.model, c.version),
    ranked AS (
        SELECT j.model, j.version, j.exposed,
               rank() OVER (PARTITION BY j.model, j.version ORDER BY ep)
               + (count(*) OVER (PARTITION BY j.model, j.version, ep) - 1) / 2.0 AS rk
          FROM j WHERE j.exposed IS NOT NULL),
    auc AS (
        SELECT r.model, r.version, count(*) AS n, count(*) FILTER (WHERE r.exposed) AS pos,
               sum(rk) FILTER (WHERE r.exposed) AS rank_sum
          FROM ranked r GROUP BY r.model, r.version)
    SELECT s.model, s.version, s.n, s.since, s.r2, s.mae, s.wmape,
           CASE WHEN a.n IS NULL THEN NULL
                WHEN a.pos = 0 OR a.pos = a.n THEN 0.5
                ELSE ((a.rank_sum - a.pos * (a.pos + 1) / 2.0)
                      / (a.pos::numeric * (a.n - a.pos)))::double precision END,
           s.coverage
      FROM sales s LEFT JOIN auc a ON a.model = s.model AND a.version = s.version
     ORDER BY s.model, s.version
$$;

REVOKE ALL ON FUNCTION shelfcast.prediction_partitions(integer, integer),
              shelfcast.record_outcomes(uuid[], double precision[], boolean[]),
              shelfcast.live_metrics(double precision) FROM PUBLIC;
REVOKE ALL ON shelfcast.predictions, shelfcast.predictions_default, shelfcast.outcomes FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_reader') THEN
        -- 0002's default privileges gave it SELECT: it needs none of these rows
        REVOKE ALL ON shelfcast.predictions, shelfcast.predictions_default, shelfcast.outcomes
            FROM shelfcast_reader;
        GRANT INSERT ON shelfcast.predictions TO shelfcast_reader;
        GRANT EXECUTE ON FUNCTION shelfcast.prediction_partitions(integer, integer),
                                  shelfcast.record_outcomes(uuid[], double precision[], boolean[]),
                                  shelfcast.live_metrics(double precision)
            TO shelfcast_reader;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'shelfcast_writer') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON shelfcast.predictions, shelfcast.predictions_default
            FROM shelfcast_writer;
        GRANT SELECT, INSERT ON shelfcast.predictions TO shelfcast_writer;
        GRANT SELECT, INSERT, UPDATE ON shelfcast.outcomes TO shelfcast_writer;
        GRANT EXECUTE ON FUNCTION shelfcast.prediction_partitions(integer, integer),
                                  shelfcast.record_outcomes(uuid[], double precision[], boolean[]),
                                  shelfcast.live_metrics(double precision)
            TO shelfcast_writer;
    END IF;
END
$$;
