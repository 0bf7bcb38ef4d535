"""Prediction ids and the prediction log (issue 17; docs/monitoring.md), against a real
PostgreSQL and the real binary: every prediction carries a UUIDv7 prediction_id, the
server writes what it answered to shelfcast.predictions off the request path, and
written + dropped == answered, exactly, through a database outage.
"""
import json
import os
import re
import threading
import time
import uuid

from harness import check, dbname, demo_csv, run, train
from test_api import ITEM

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def metric(s, name):
    m = re.search(r"^%s (\d+)$" % name, s.get("/metrics").body.decode(), re.M)
    return int(m.group(1)) if m else -1


def log_counts(s):
    return metric(s, "shelfcast_prediction_log_written_total"), metric(s, "shelfcast_prediction_log_dropped_total")


def trained(ctx, rows=1200):
    url = ctx.db()
    train(url, demo_csv(rows), extra=["--activate"])
    return url


def test_every_prediction_carries_a_unique_time_ordered_id_and_is_logged_as_answered(ctx):
    url = trained(ctx)
    db = dbname(url)
    s = ctx.serve(db_url=url, wait_ready=True)
    before = time.time()
    items = [dict(ITEM, id="a"), {"id": 7, "features": {"brand": "Zed\t\"co\"\\", "category": "snacks",
                                                        "price": 3.5, "weight_kg": 0.2}, "promotion_level": 2}]
    r = s.predict({"items": items})
    check(r.status == 200, "predict: %d %s" % (r.status, r.body[:300]))
    preds = r.json()["predictions"]
    ids = [p["prediction_id"] for p in preds]
    check(all(UUID7.match(i) for i in ids) and len(set(ids)) == 2, "UUIDv7 ids: %s" % ids)
    ms = uuid.UUID(ids[0]).int >> 80
    check(abs(ms / 1000 - before) < 5, "the id carries the request's time: %d vs %f" % (ms, before))
    # the jansson path (an escaped string is not the fast parser's) gives ids too
    r2 = s.predict({"items": [{"features": {"brand": "A\\u0063me", "category": "snacks", "price": 2.49,
                                            "weight_kg": 0.3}}]})
    ids.append(r2.json()["predictions"][0]["prediction_id"])
    many = s.predict({"items": [ITEM] * 600}).json()["predictions"]  # more than a tile
    ids += [p["prediction_id"] for p in many]
    check(len(set(ids)) == len(ids) == 603, "all ids distinct")
    s.wait_for(lambda: log_counts(s)[0] == 603, 30, "603 predictions written")
    check(log_counts(s)[1] == 0, "none dropped")
    rows = ctx.pg.query(db, "SELECT prediction_id, model, version, features, promotion_level, price, "
                            "predicted_sales, expected_sales, exposure_probability, log_target, "
                            "interval_lower IS NOT NULL, at = shelfcast.prediction_time(prediction_id) "
                            "FROM shelfcast.predictions WHERE prediction_id IN ('%s', '%s') ORDER BY promotion_level"
                     % (ids[0], ids[1])).split("\n")
    check(len(rows) == 2, "both rows: %s" % rows)
    by_id = {r.split("|")[0]: r.split("|") for r in rows}
    a, b = by_id[ids[0]], by_id[ids[1]]
    check(json.loads(a[3]) == ITEM["features"], "features as sent: %s" % a[3])
    check(json.loads(b[3]) == items[1]["features"], "escaped features as sent: %s" % b[3])
    check(a[1] == "demo" and a[2] == "1" and b[4] == "2", "model, version, level: %s %s" % (a, b))
    check(float(a[5]) == 2.49 and float(b[5]) == 3.5, "price")
    check(abs(float(a[6]) - preds[0]["predicted_sales"]) <= 1e-6 * max(1, preds[0]["predicted_sales"]) and
          abs(float(a[7]) - preds[0]["expected_sales"]) <= 1e-6 * max(1, preds[0]["expected_sales"]) and
          abs(float(a[8]) - preds[0]["exposure_probability"]) <= 1e-6, "the numbers answered: %s vs %s" % (a, preds[0]))
    check(a[9] == "t" and a[11] == "t", "log target, at is the id's time")
    check(ctx.pg.query(db, "SELECT count(*) FROM shelfcast.predictions_default") == "0", "nothing in the default partition")
    s.stop()
    check("603 written, 0 dropped" in s.output(), "the final counts are logged")


def test_a_model_without_intervals_logs_nulls(ctx):
    """The binary COPY's NULLs: a model with no calibration logs no interval; a raw target logs
    log_target false and sales_t in units."""
    from test_golden import import_model
    url = ctx.db()
    db = dbname(url)
    import_model(url, "beta", True)  # raw target, no calibration
    s = ctx.serve(db_url=url, wait_ready=True, args=["--model", "beta"])
    feats = {"price": 4.5, "unit_cost": 2, "pack_size": 2, "store": "1"}
    r = s.predict({"items": [{"features": feats, "promotion_level": 2}]})
    check(r.status == 200, r.body[:300])
    p = r.json()["predictions"][0]
    check("predicted_sales_interval" not in p, "no calibration, no interval: %s" % p)
    s.wait_for(lambda: log_counts(s)[0] == 1, 30, "the prediction written")
    row = ctx.pg.query(db, "SELECT price, interval_lower IS NULL AND interval_upper IS NULL AND "
                           "interval_coverage IS NULL, log_target, sales_t = predicted_sales, promotion_level, "
                           "predicted_sales, features FROM shelfcast.predictions").split("|")
    check(float(row[0]) == 4.5 and row[1] == "t" and row[2] == "f" and row[3] == "t" and row[4] == "2",
          "price, NULL interval, raw target, level: %s" % row)
    check(abs(float(row[5]) - p["predicted_sales"]) <= 1e-6 * max(1, abs(p["predicted_sales"])), "%s vs %s" % (row, p))
    check(json.loads(row[6]) == feats, "features as sent: %s" % row[6])
    check(log_counts(s)[1] == 0, "none dropped")
    s.stop()


def test_a_refused_request_logs_nothing_and_sampling_logs_a_share(ctx):
    url = trained(ctx)
    db = dbname(url)
    s = ctx.serve(db_url=url, wait_ready=True, args=["--log-predictions", "0.5"])
    bad = s.predict({"items": [ITEM] * 300 + [{"features": {"price": "x"}}]})
    check(bad.status == 422, "a bad item fails the request")
    time.sleep(1.5)
    s.wait_for(lambda: metric(s, "shelfcast_prediction_log_queued") == 0, 30, "the queue drained")
    check(ctx.pg.query(db, "SELECT count(*) FROM shelfcast.predictions") == "0" and log_counts(s)[0] == 0,
          "the refused request's 300 scored items were logged")
    for _ in range(20):
        check(s.predict({"items": [ITEM] * 50}).status == 200, "predict")
    time.sleep(1.5)
    s.wait_for(lambda: metric(s, "shelfcast_prediction_log_queued") == 0, 30, "the queue drained")
    written = int(ctx.pg.query(db, "SELECT count(*) FROM shelfcast.predictions"))
    check(written == log_counts(s)[0], "the counter says what the table holds: %d" % written)
    check(350 <= written <= 650, "about half of 1000 logged: %d" % written)
    s.stop()
    s0 = ctx.serve(db_url=url, wait_ready=True, args=["--log-predictions", "0"])
    r = s0.predict({"items": [ITEM]})
    check(UUID7.match(r.json()["predictions"][0]["prediction_id"]), "ids even with the log off")
    time.sleep(0.5)
    check(log_counts(s0) == (0, 0), "nothing logged when off")
    s0.stop()
    check(run(["serve", "--log-predictions", "1.5"]).returncode != 0, "a rate past 1 is refused")


def test_a_full_queue_drops_and_counts_and_never_blocks(ctx):
    url = trained(ctx)
    db = dbname(url)
    # the smallest queue (64 KiB per worker), and the log's table locked for 4 s: the logger's
    # COPY waits, the queue fills, predictions go on being answered and the rest are dropped
    s = ctx.serve(db_url=url, wait_ready=True, args=["--prediction-log-queue", "65536", "--threads", "1"])
    locker = ctx.pg.hold_lock(db, "shelfcast.predictions")  # returns once the lock is held
    try:
        answered = 0
        t0 = time.time()
        while time.time() - t0 < 2.5:
            r = s.predict({"items": [ITEM] * 100})
            check(r.status == 200, "answered")
            answered += 100
        took = time.time() - t0
        locker.communicate("COMMIT;\n", timeout=60)  # the lock goes; the logger's COPY goes on
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()
    s.wait_for(lambda: metric(s, "shelfcast_prediction_log_queued") == 0, 30, "the queue drained")
    w, d = log_counts(s)
    print("# %d predictions in %.2f s through a 64 KiB queue, table locked: %d written, %d dropped"
          % (answered, took, w, d))
    check(d > 0, "a locked table and a 64 KiB queue drop some")
    check(w + d == answered, "written %d + dropped %d == answered %d" % (w, d, answered))
    check(int(ctx.pg.query(db, "SELECT count(*) FROM shelfcast.predictions")) == w, "the table holds what was written")
    s.stop()


def test_postgres_away_for_a_while_under_load_loses_nothing_uncounted(ctx):
    pg = ctx.postgres()
    url = pg.url("postgres")
    check(run(["migrate", "--db", url]).returncode == 0, "migrate")
    train(url, demo_csv(1200), extra=["--activate"])
    s = ctx.serve(db_url=url, wait_ready=True, args=["--prediction-log-queue", "1048576"])
    answered = [0]
    failures = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            r = s.predict({"items": [ITEM] * 10})
            if r.status != 200:
                failures.append(r.status)
            else:
                answered[0] += len(r.json()["predictions"])

    th = threading.Thread(target=load)
    th.start()
    time.sleep(2)
    pg.kill()  # SIGKILL: no shutdown checkpoint, connections cut mid-COPY
    down_at = answered[0]
    time.sleep(float(os.environ.get("SHELFCAST_OUTAGE_SECONDS", "30")))
    during = answered[0] - down_at
    pg.start()
    s.wait_for(lambda: s.get("/healthz").json()["database"] == "ok", 60, "the database back")
    time.sleep(2)
    stop.set()
    th.join()
    check(not failures, "every prediction answered through the outage: %s" % failures[:5])
    check(during > 0, "predictions answered while the database was away")
    s.wait_for(lambda: metric(s, "shelfcast_prediction_log_queued") == 0, 60, "the log to resume and drain")
    w, d = log_counts(s)
    rows = int(pg.query("postgres", "SELECT count(*) FROM shelfcast.predictions"))
    print("# outage: %d answered (%d while away), %d written, %d dropped" % (answered[0], during, w, d))
    check(rows == w, "the table holds what was counted written: %d vs %d" % (rows, w))
    check(w + d == answered[0], "written %d + dropped %d == answered %d, exactly" % (w, d, answered[0]))
    check(d > 0, "a 1 MiB queue cannot hold the whole outage: some were dropped")
    s.stop()
