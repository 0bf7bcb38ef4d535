"""The watcher's states (src/registry/watcher.c), against a real PostgreSQL and the real binary.

listening (NOTIFY) -> database lost (serving on, healthz unreachable) -> reconnected and listening again;
a version that fails to load is tried once, counted once, and not tried again by the poll.
"""
import re

from harness import check, dbname, demo_csv, run, train
from test_api import ITEM
from test_registry import CORRUPTIONS, serving, two_versions


def loads(s, result):
    m = re.search(r'shelfcast_model_loads_total\{result="%s"\} (\d+)' % result, s.get("/metrics").body.decode())
    return int(m.group(1)) if m else -1


def test_notify_brings_activations_and_is_listened_to_again_after_a_reconnect(ctx):
    pg = ctx.postgres()
    url = pg.url("postgres")
    check(run(["migrate", "--db", url]).returncode == 0, "migrate")
    data = demo_csv(1200)
    train(url, data, extra=["--activate"])
    train(url, data)
    train(url, data)
    # an hour between polls: only NOTIFY can bring an activation within the minute waited
    s = ctx.serve(db_url=url, wait_ready=True, args=["--poll-interval", "3600"])
    check(run(["models", "activate", "demo", "2", "--db", url]).returncode == 0, "activate 2")
    s.wait_for(lambda: serving(s, 2), 60, "version 2 through NOTIFY")
    # the store shows a version before the load is counted: wait for the count, then it must be two
    s.wait_for(lambda: loads(s, "success") >= 2, 30, "the second load to be counted")
    check(loads(s, "success") == 2, "two loads counted: %d" % loads(s, "success"))
    pg.stop()
    s.wait_for(lambda: s.get("/healthz").json()["database"] == "unreachable", 60, "the outage noticed")
    check(s.predict({"items": [ITEM]}).json()["model"]["version"] == 2, "serving through the outage")
    pg.start()
    s.wait_for(lambda: s.get("/healthz").json()["database"] == "ok", 60, "the watcher to reconnect")
    # reconnected: it LISTENs again (the next poll is an hour away)
    check(run(["models", "activate", "demo", "3", "--db", url]).returncode == 0, "activate 3")
    s.wait_for(lambda: serving(s, 3), 60, "version 3 through NOTIFY after the reconnect")
    s.stop()


def test_a_version_that_fails_to_load_is_tried_once_not_on_every_poll(ctx):
    url = two_versions(ctx, rows=1200)
    db = dbname(url)
    ctx.pg.query(db, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sc_watch_reader') THEN "
                     "CREATE ROLE sc_watch_reader LOGIN IN ROLE shelfcast_reader; END IF; END $$")
    # a reader cannot mark the version failed, so it stays active in the registry: only the
    # watcher's memory of the failure keeps the poll from loading it again and again
    reader = url.replace("user=postgres", "user=sc_watch_reader")
    s = ctx.serve(db_url=reader, wait_ready=True, args=["--poll-interval", "1"])
    ctx.pg.query(db, CORRUPTIONS["a NaN weight"])
    ctx.pg.query(db, "UPDATE shelfcast.model_versions SET status = 'archived' WHERE version = 1; "
                     "UPDATE shelfcast.model_versions SET status = 'active' WHERE version = 2")
    s.wait_for(lambda: loads(s, "failure") == 1, 30, "the failed load to be counted")
    # the watcher goes on polling (a poll a second): wait until its connection has run a query 3 s after
    # the failure was counted, in the database's clock
    failed_at = float(ctx.pg.query(db, "SELECT extract(epoch FROM now())"))
    s.wait_for(lambda: float(ctx.pg.query(db, "SELECT coalesce(max(extract(epoch FROM query_start)), 0) "
                                              "FROM pg_stat_activity WHERE application_name = 'shelfcast-watcher' "
                                              "AND datname = current_database()"))
               >= failed_at + 3, 60, "three polls after the failure")
    check(loads(s, "failure") == 1, "the failed version was tried again: %d failures" % loads(s, "failure"))
    check(s.predict({"items": [ITEM]}).json()["model"]["version"] == 1, "the good version keeps serving")
    check(ctx.pg.query(db, "SELECT status FROM shelfcast.model_versions WHERE version = 2") == "active",
          "the reader could not mark it (the premise of this test)")
    m = s.get("/v1/models").json()["models"][0]
    check(m["status"] == "stale" and m["serving_version"] == 1 and m["active_version"] == 2, "v1/models: %r" % m)
    s.stop()


def test_a_query_the_role_may_not_run_backs_off_instead_of_reconnecting_in_a_loop(ctx):
    import time
    url = ctx.db()
    db = dbname(url)
    data = demo_csv(1200)
    train(url, data, extra=["--activate"])
    # grants of its own (not through shelfcast_reader), so that one table's can be taken away
    ctx.pg.query(db, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sc_watch_grants') THEN "
                     "CREATE ROLE sc_watch_grants LOGIN; END IF; END $$; "
                     "GRANT USAGE ON SCHEMA shelfcast TO sc_watch_grants; "
                     "GRANT SELECT ON ALL TABLES IN SCHEMA shelfcast TO sc_watch_grants")
    s = ctx.serve(db_url=url.replace("user=postgres", "user=sc_watch_grants"), wait_ready=True,
                  args=["--poll-interval", "1"])
    connected = s.output().count("database_connected")
    ctx.pg.query(db, "REVOKE SELECT ON shelfcast.model_versions FROM sc_watch_grants")
    # the poll fails, the watcher reconnects; then it backs off (waits of 0.25, 0.5, 1, 2 s...): a loop would
    # reconnect hundreds of times in the 5 s counted, a poll a second five times; the backoff at most four
    # (a slower machine, fewer)
    s.wait_for(lambda: s.output().count("database_connected") > connected, 60, "a reconnect after the revoke")
    first = s.output().count("database_connected")
    time.sleep(5)
    out = s.output()
    again = out.count("database_connected") - first
    print("# %d reconnects in the 5 s after the first" % again)
    check(again <= 4, "%d reconnects in 5 s with a revoked grant: %s" % (again, out[-1500:]))
    check("permission denied for table model_versions" in out, "the real error is not logged: " + out[-1500:])
    check(s.predict({"items": [ITEM]}).json()["model"]["version"] == 1, "the loaded version keeps serving")
    ctx.pg.query(db, "GRANT SELECT ON shelfcast.model_versions TO sc_watch_grants")
    train(url, data, extra=["--activate"])
    s.wait_for(lambda: serving(s, 2), 60, "version 2 after the grant came back")
    check(s.get("/healthz").json()["database"] == "ok", "database ok after the grant came back")
    # a version the role may not read is a failed load, not a lost connection: no reconnect, tried again later
    ctx.pg.query(db, "REVOKE SELECT ON shelfcast.model_tensors FROM sc_watch_grants")
    connected = s.output().count("database_connected")
    train(url, data, extra=["--activate"])
    s.wait_for(lambda: loads(s, "failure") >= 2, 60, "the unreadable version to be counted on two polls")
    out = s.output()
    check(out.count("database_connected") == connected, "reconnected over an unreadable version: " + out[-1500:])
    check("permission denied for table model_tensors" in out, "the load's own error is not logged: " + out[-1500:])
    check(ctx.pg.query(db, "SELECT status FROM shelfcast.model_versions WHERE version = 3") == "active",
          "a version the role could not read was marked failed")
    ctx.pg.query(db, "GRANT SELECT ON shelfcast.model_tensors TO sc_watch_grants")
    s.wait_for(lambda: serving(s, 3), 60, "version 3 after the grant came back")
    s.stop()
