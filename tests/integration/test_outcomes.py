"""Outcomes and live accuracy per version (issue 17; docs/monitoring.md), against a real
PostgreSQL and the real binary: POST /v1/outcomes and `shelfcast outcomes import` record what
happened to logged predictions, every bad input is refused naming its field, and the live
metrics of GET /v1/models/{name} equal the trainer's held-out metrics when the test rows are
replayed through /v1/predict and their actual outcomes posted.
"""
import csv
import json
import os
import re
import time
import uuid

from harness import check, dbname, demo_csv, example_config, run, temp_dir, train, write_json
from test_api import ITEM
from test_predlog import log_counts, metric
from test_security import login_roles, psql_as

TOKEN = "outcomes-token-0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}


def serve_trained(ctx, rows=1200, url=None, extra=()):
    if url is None:
        url = ctx.db()
        train(url, demo_csv(rows), extra=["--activate"])
    s = ctx.serve(db_url=url, wait_ready=True, args=["--admin-token", TOKEN] + list(extra))
    return url, s


def predicted(s, n):
    """n logged predictions' ids (waits until the log has written them)."""
    before = log_counts(s)[0]
    ids = [p["prediction_id"] for p in s.predict({"items": [ITEM] * n}).json()["predictions"]]
    s.wait_for(lambda: log_counts(s)[0] >= before + n, 30, "the predictions written")
    return ids


def post(s, outcomes, **kw):
    return s.post("/v1/outcomes", {"outcomes": outcomes}, headers=AUTH, **kw)


def test_outcomes_are_recorded_counted_and_replaced(ctx):
    url, s = serve_trained(ctx)
    db = dbname(url)
    ids = predicted(s, 5)
    unknown = str(uuid.UUID(ids[0][:14] + "7fff-8fff-ffffffffffff"))
    r = post(s, [{"prediction_id": ids[0], "units": 1200, "exposed": True},
                 {"prediction_id": ids[1], "units": 0},
                 {"prediction_id": ids[2].upper(), "units": 3.5, "exposed": None},
                 {"prediction_id": ids[1], "units": 7, "exposed": False},
                 {"prediction_id": unknown, "units": 1}])
    check(r.status == 200 and r.json() == {"accepted": 4, "unknown_prediction": 1, "duplicate": 1},
          "counts: %d %s" % (r.status, r.body))
    rows = ctx.pg.query(db, "SELECT prediction_id, units, coalesce(exposed::text, '-') FROM shelfcast.outcomes "
                            "ORDER BY units").split("\n")
    check(rows == ["%s|3.5|-" % ids[2], "%s|7|false" % ids[1], "%s|1200|true" % ids[0]], rows)
    r = post(s, [{"prediction_id": ids[0], "units": 1300}])
    check(r.json() == {"accepted": 1, "unknown_prediction": 0, "duplicate": 1}, "a second outcome replaces: %s" % r.body)
    check(ctx.pg.query(db, "SELECT units FROM shelfcast.outcomes WHERE prediction_id = '%s'" % ids[0]) == "1300",
          "replaced")
    # offline, the same function: CSV with an extra column, exposed in several spellings
    path = os.path.join(temp_dir("sc-outcomes-"), "outcomes.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["note", "prediction_id", "units", "exposed"])
        w.writerow(["x", ids[3], "12", "yes"])
        w.writerow(["y", ids[4], "0.5", ""])
        w.writerow(["z", ids[0], "1400", "F"])
        w.writerow(["z", unknown, "1", "1"])
    r = run(["outcomes", "import", "--data", path, "--db", url])
    check(r.returncode == 0 and "4 outcomes: 3 accepted, 1 unknown_prediction, 1 duplicate" in r.stdout,
          "import: %s %s" % (r.stdout, r.stderr))
    check(ctx.pg.query(db, "SELECT count(*), sum(units) FROM shelfcast.outcomes") == "5|1423", "imported")
    s.stop()


BAD_BODIES = [
    # (body, status, field)
    ({"outcomes": [{"prediction_id": "P", "units": -1}]}, 422, "outcomes[0].units"),
    ({"outcomes": [{"prediction_id": "P", "units": "12"}]}, 422, "outcomes[0].units"),
    ({"outcomes": [{"prediction_id": "P", "units": None}]}, 422, "outcomes[0].units"),
    ({"outcomes": [{"prediction_id": "P"}]}, 422, "outcomes[0].units"),
    ({"outcomes": [{"prediction_id": "P", "units": 1, "exposed": "yes"}]}, 422, "outcomes[0].exposed"),
    ({"outcomes": [{"prediction_id": "P", "units": 1, "exposed": 1}]}, 422, "outcomes[0].exposed"),
    ({"outcomes": [{"units": 1}]}, 422, "outcomes[0].prediction_id"),
    ({"outcomes": [{"prediction_id": 12, "units": 1}]}, 422, "outcomes[0].prediction_id"),
    ({"outcomes": [{"prediction_id": "not-an-id", "units": 1}]}, 422, "outcomes[0].prediction_id"),
    ({"outcomes": [{"prediction_id": "P", "units": 1}, {"prediction_id": "P", "units": 1, "sold": 3}]}, 422,
     "outcomes[1].sold"),
    ({"outcomes": [{"prediction_id": "P", "units": 1}, 7]}, 422, "outcomes[1]"),
    ({"outcomes": []}, 422, "outcomes"),
    ({"outcomes": {}}, 422, "outcomes"),
    ({}, 422, "outcomes"),
    ({"outcomes": [{"prediction_id": "P", "units": 1}], "extra": 1}, 422, "extra"),
    ([], 422, None),
]


def test_every_bad_outcome_is_refused_naming_its_field(ctx):
    url, s = serve_trained(ctx)
    db = dbname(url)
    pid = predicted(s, 1)[0]
    for body, status, field in BAD_BODIES:
        text = json.dumps(body).replace('"P"', json.dumps(pid))
        r = s.post("/v1/outcomes", text, headers=dict(AUTH, **{"Content-Type": "application/json"}))
        e = r.json().get("error", {})
        check(r.status == status and e.get("field") == field, "%s: %d %s" % (text, r.status, r.body))
    raw = [(b'{"outcomes": [{"prediction_id": "%s", "units": 1e999}]}' % pid.encode(), 422),
           (b'{"outcomes": [{"prediction_id": "%s", "units": NaN}]}' % pid.encode(), 400),
           (b'{"outcomes": [{"prediction_id": "%s", "units": 1}' % pid.encode(), 400),
           (b'{"outcomes": [], "outcomes": []}', 400)]
    for body, status in raw:
        r = s.post("/v1/outcomes", body, headers=dict(AUTH, **{"Content-Type": "application/json"}))
        check(r.status == status, "%s: %d %s" % (body, r.status, r.body))
    many = {"outcomes": [{"prediction_id": pid, "units": 1}] * 10001}
    check(post(s, many["outcomes"]).status == 413, "more than 10,000 outcomes")
    r = s.post("/v1/outcomes", {"outcomes": [{"prediction_id": pid, "units": 1}]})
    check(r.status == 401, "no token: %d" % r.status)
    r = s.post("/v1/outcomes", {"outcomes": [{"prediction_id": pid, "units": 1}]},
               headers={"Authorization": "Bearer wrong"})
    check(r.status == 401, "a wrong token: %d" % r.status)
    r = s.post("/v1/outcomes", b"outcomes", headers=dict(AUTH, **{"Content-Type": "text/csv"}))
    check(r.status == 415, "not JSON: %d" % r.status)
    check(s.get("/v1/outcomes").status == 405, "GET")
    check(ctx.pg.query(db, "SELECT count(*) FROM shelfcast.outcomes") == "0", "nothing recorded by a bad request")
    check(post(s, [{"prediction_id": pid, "units": 10000}] * 10000).json()["duplicate"] == 9999,
          "10,000 at once, the same id: the last wins")
    s.stop()
    s = ctx.serve(db_url=url, wait_ready=True)
    r = s.post("/v1/outcomes", {"outcomes": [{"prediction_id": pid, "units": 1}]}, headers=AUTH)
    check(r.status == 403 and "admin routes (activation, outcomes) are off" in r.json()["error"]["message"],
          "no admin token configured: the route is off, and says so: %s" % r.body)
    s.stop()


BAD_CSVS = [
    # (rows after the header, what the message must name)
    ([["P", "-1", "true"]], "line 2.units"),
    ([["P", "abc", "true"]], "line 2.units"),
    ([["P", "", "true"]], "line 2.units"),
    ([["P", "nan", "true"]], "line 2.units"),
    ([["P", "inf", "true"]], "line 2.units"),
    ([["P", "0x10", "true"]], "line 2.units"),  # strtod's hexadecimal is no number of a CSV's
    ([["P", "1", "maybe"]], "line 2.exposed"),
    ([["P", "1", "true"], ["", "1", "true"]], "line 3.prediction_id"),
    ([["nope", "1", "true"]], "line 2.prediction_id"),
]


def test_every_bad_outcomes_csv_is_refused_naming_its_line_and_column(ctx):
    url = ctx.db()
    d = temp_dir("sc-outcomes-")
    pid = str(uuid.uuid4())
    for rows, where in BAD_CSVS:
        path = os.path.join(d, "bad.csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["prediction_id", "units", "exposed"])
            for row in rows:
                w.writerow([pid if c == "P" else c for c in row])
        r = run(["outcomes", "import", "--data", path, "--db", url])
        check(r.returncode == 1 and where in r.stderr, "%s: %d %s" % (rows, r.returncode, r.stderr))
    # no prediction_id column; a column named twice (which one would count?)
    for text, says in (("id,units\n%s,1\n" % pid, "prediction_id"),
                       ("prediction_id,units,units\n%s,5,9\n" % pid, '"units" twice')):
        with open(os.path.join(d, "header.csv"), "w") as f:
            f.write(text)
        r = run(["outcomes", "import", "--data", os.path.join(d, "header.csv"), "--db", url])
        check(r.returncode == 1 and says in r.stderr, "%r: %d %s" % (text, r.returncode, r.stderr))
    r = run(["outcomes", "import", "--data", os.path.join(d, "missing.csv"), "--db", url])
    check(r.returncode == 1 and "missing.csv" in r.stderr, r.stderr)
    check(run(["outcomes", "import", "--db", url]).returncode == 2, "--data is required")
    check(run(["outcomes", "export", "--data", "x", "--db", url]).returncode == 2, "import is the only action")


def split_data(rows=2000, weeks=10):
    """The demo catalog with a week column (row number mod weeks), and a config splitting on it."""
    src = demo_csv(rows)
    d = temp_dir("sc-live-")
    path = os.path.join(d, "weeks.csv")
    with open(src) as f, open(path, "w", newline="") as out:
        r = csv.reader(f)
        w = csv.writer(out)
        w.writerow(next(r) + ["week"])
        for i, row in enumerate(r):
            w.writerow(row + [str(i % weeks)])
    from harness import example
    with open(example("demo", "dataset.json")) as f:
        config = json.load(f)
    config["split"] = {"column": "week", "test_from": weeks - 2}
    config["model"]["epochs"] = 30
    cpath = os.path.join(d, "dataset.json")
    with open(cpath, "w") as f:
        json.dump(config, f)
    return path, cpath, weeks - 2


def close(live, offline):
    """Within 1e-6 relative (the registry stores offline figures to 9 significant digits); 1e-12 for a 0."""
    return abs(live - offline) <= 1e-6 * abs(offline) + 1e-12


def evaluate(rows):
    """src/train/evaluate.c's r2_log, mae_log, wmape and AUC (ties share their average rank),
    over (t_pred, units_pred, p, units, exposed) rows: the reference the SQL is held to."""
    import math
    t_true = [math.log1p(r[3]) for r in rows]
    mean = sum(t_true) / len(rows)
    ss_tot = sum((t - mean) ** 2 for t in t_true)
    ss_res = sum((r[0] - t) ** 2 for r, t in zip(rows, t_true))
    out = {"sales_r2_log": 1 - ss_res / ss_tot if ss_tot > 0 else 0,
           "sales_mae_log": sum(abs(r[0] - t) for r, t in zip(rows, t_true)) / len(rows),
           "sales_wmape": sum(abs(r[1] - r[3]) for r in rows) / sum(r[3] for r in rows)}
    s = sorted((r[2], r[4]) for r in rows)
    pos = sum(1 for _, y in s if y)
    rank_sum, i = 0.0, 0
    while i < len(s):
        j = i
        while j < len(s) and s[j][0] == s[i][0]:
            j += 1
        rank_sum += sum(1 for k in range(i, j) if s[k][1]) * (i + 1 + j) / 2.0
        i = j
    out["exposure_auc"] = 0.5 if pos in (0, len(s)) else (rank_sum - pos * (pos + 1) / 2) / (pos * (len(s) - pos))
    return out


def test_live_accuracy_equals_the_trainers_on_the_same_rows(ctx):
    data, config, test_from = split_data()
    url = ctx.db()
    db = dbname(url)
    train(url, data, config=config, extra=["--activate"])
    url, s = serve_trained(ctx, url=url, extra=["--live-interval", "3600"])
    with open(data) as f:
        test = [row for row in csv.DictReader(f) if int(row["week"]) >= test_from]
    items = [{"id": row["item_id"], "promotion_level": int(row["promo_level"]),
              "features": {"brand": row["brand"], "category": row["category"], "price": float(row["price"]),
                           "weight_kg": float(row["weight_kg"])}} for row in test]
    before = log_counts(s)[0]
    preds = []
    for i in range(0, len(items), 100):
        preds += s.predict({"items": items[i:i + 100]}).json()["predictions"]
    check(len(preds) == len(test), "every test row answered")
    s.wait_for(lambda: log_counts(s)[0] == before + len(test), 30, "the replay written")
    outcomes = [{"prediction_id": p["prediction_id"], "units": float(row["units"]), "exposed": row["featured"] == "1"}
                for p, row in zip(preds, test)]
    r = post(s, outcomes)
    check(r.json() == {"accepted": len(test), "unknown_prediction": 0, "duplicate": 0}, r.body)

    def live():
        v = s.get("/v1/models/demo").json()["versions"][0]
        return v.get("live"), v["metrics"]
    # the live interval is an hour: only the kick after the outcomes brings them
    s.wait_for(lambda: live()[0] is not None and live()[0]["outcomes"] == len(test), 30, "live accuracy")
    lv, offline = live()
    check(offline["test_rows"] == len(test), "the trainer's test rows are the replayed ones: %d vs %d"
          % (offline["test_rows"], len(test)))
    pairs = [("sales_r2_log", offline["sales"]["r2_log"]), ("sales_mae_log", offline["sales"]["mae_log"]),
             ("sales_wmape", offline["sales"]["wmape"]), ("exposure_auc", offline["exposure"]["auc"])]
    for key, want in pairs:
        print("# %s: live %.9g, offline %.9g" % (key, lv[key], want))
        check(close(lv[key], want), "%s: live %.9g vs offline %.9g" % (key, lv[key], want))
    # the SQL against evaluate.c's definitions in full precision, on the logged rows themselves
    rows = [tuple(float(x) for x in line.split("|")[:4]) + (line.split("|")[4] == "t",) for line in ctx.pg.query(
        db, "SELECT p.sales_t, p.predicted_sales, p.exposure_probability, o.units, o.exposed "
            "FROM shelfcast.predictions p JOIN shelfcast.outcomes o USING (prediction_id)").split("\n")]
    check(len(rows) == len(test), "the joined rows")
    ref = evaluate(rows)
    for key, want in ref.items():
        check(abs(lv[key] - want) <= 1e-9 * abs(want), "%s: SQL %.15g vs evaluate.c's definition %.15g"
              % (key, lv[key], want))
    check(0 <= lv["interval_coverage"] <= 1, "interval coverage %r" % lv["interval_coverage"])
    print("# interval coverage: live %.4f" % lv["interval_coverage"])
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", lv["since"]), lv["since"])
    text = s.get("/metrics").body.decode()
    m = re.search(r'^shelfcast_live_sales_r2_log\{model="demo",version="1"\} (\S+)$', text, re.M)
    check(m and abs(float(m.group(1)) - lv["sales_r2_log"]) < 1e-9, "the gauge")
    check(re.search(r'^shelfcast_live_outcomes\{model="demo",version="1"\} %d$' % len(test), text, re.M), "outcomes gauge")
    # versions without outcomes have no live member; the list view has none at all
    check("live" not in json.dumps(s.get("/v1/models").json()), "the list has no live figures")
    s.stop()


def test_the_serving_role_writes_the_log_but_reads_neither_table(ctx):
    url = ctx.db()
    db = dbname(url)
    train(url, demo_csv(1200), extra=["--activate"])
    login_roles(ctx)
    reader = url.replace("user=postgres", "user=sc_reader")
    _, s = serve_trained(ctx, url=reader)
    ids = predicted(s, 3)
    r = post(s, [{"prediction_id": i, "units": 5, "exposed": True} for i in ids])
    check(r.status == 200 and r.json()["accepted"] == 3, "the reader records outcomes: %s" % r.body)
    s.wait_for(lambda: "live" in s.get("/v1/models/demo").json()["versions"][0], 30, "live read by the reader")
    for sql in ("SELECT count(*) FROM shelfcast.predictions", "SELECT count(*) FROM shelfcast.outcomes",
                "SELECT count(*) FROM shelfcast.predictions_default",
                "SELECT features FROM shelfcast.predictions_%s" % time.strftime("%Y%m%d", time.gmtime()),
                "UPDATE shelfcast.predictions SET price = 0", "DELETE FROM shelfcast.outcomes",
                "INSERT INTO shelfcast.outcomes (prediction_id, predicted_at, units) VALUES ('%s', now(), 1)" % ids[0]):
        r = psql_as(ctx, db, "sc_reader", sql)
        check(r.returncode != 0 and "permission denied" in r.stderr,
              "the reader: %s: %s" % (sql, r.stderr or r.stdout))
    r = psql_as(ctx, db, "sc_writer", "SELECT count(*) FROM shelfcast.predictions JOIN shelfcast.outcomes "
                                      "USING (prediction_id)")
    check(r.returncode == 0 and r.stdout.strip() == "3", "the writer reads both: %s" % r.stderr)
    r = psql_as(ctx, db, "sc_writer", "DELETE FROM shelfcast.predictions")
    check(r.returncode != 0 and "permission denied" in r.stderr, "the writer may not delete the log")
    # the log is no part of a model: export writes tensors and the spec, no prediction
    out = os.path.join(temp_dir("sc-export-"), "demo.safetensors")
    check(run(["models", "export", "demo", "1", "--out", out, "--db", url]).returncode == 0, "export")
    blob = open(out, "rb").read()
    check(all(i.encode() not in blob for i in ids) and b"prediction" not in blob, "no prediction in the export")
    s.stop()


def test_train_from_outcomes_uses_the_logged_features_and_says_what_it_trained_on(ctx):
    data, config, test_from = split_data(rows=1600)
    url = ctx.db()
    db = dbname(url)
    train(url, data, config=config, extra=["--activate"])
    url, s = serve_trained(ctx, url=url)
    with open(data) as f:
        rows = list(csv.DictReader(f))[:800]
    preds = []
    for i in range(0, len(rows), 50):  # 16 requests: 16 prediction times to split on
        items = [{"promotion_level": int(r["promo_level"]),
                  "features": {"brand": r["brand"], "category": r["category"], "price": float(r["price"]),
                               "weight_kg": float(r["weight_kg"])}} for r in rows[i:i + 50]]
        preds += s.predict({"items": items}).json()["predictions"]
        time.sleep(0.01)
    s.wait_for(lambda: metric(s, "shelfcast_prediction_log_queued") == 0 and log_counts(s)[0] == 800, 30, "logged")
    r = post(s, [{"prediction_id": p["prediction_id"], "units": float(row["units"]),
                  "exposed": row["featured"] == "1" if i % 10 else None}
                 for i, (p, row) in enumerate(zip(preds, rows))])
    check(r.json()["accepted"] == 800, r.body)
    s.stop()
    r = run(["train", "--from-outcomes", "demo", "--activate-if-better", "--db", url])
    check(r.returncode == 0, "train --from-outcomes: %s" % r.stderr[-2000:])
    report = json.loads(r.stdout)
    on = report["training"]["trained_on"]
    check(on["outcomes"] == 800 and on["model"] == "demo" and on["since"] is None, on)
    check("split" in on, "the week split became a split on the prediction time: %s" % on)
    check(report["version"] == 2, "version 2 registered")
    rows_seen = report["training"]["rows"]
    check(rows_seen["read"] == 800 and rows_seen["label_level_or_split_missing_dropped"] == 80 and
          rows_seen["used"] == 720 and rows_seen["test"] > 0, "the 80 outcomes without exposure are dropped: %s" % rows_seen)
    check(report["training"]["dataset_config"]["split"] == {"column": "week", "test_from": test_from},
          "the stored config is kept as it was")
    detail = json.loads(ctx.pg.query(db, "SELECT detail FROM shelfcast.model_events WHERE model = 'demo' AND "
                                         "version = 2 AND event = 'registered'"))
    check(detail["trained_on"]["outcomes"] == 800, "the event says what it was trained on: %s" % detail)
    # --also-data adds a CSV's rows (its columns by name); --since in the future finds nothing
    r = run(["train", "--from-outcomes", "demo", "--also-data", data, "--dry-run", "--db", url])
    check(r.returncode == 0, r.stderr[-2000:])
    on = json.loads(r.stdout)["training"]["trained_on"]
    check(on["also_data"]["rows"] == 1600 and len(on["also_data"]["sha256"]) == 64, on)
    r = run(["train", "--from-outcomes", "demo", "--since", "2999-01-01", "--dry-run", "--db", url])
    check(r.returncode == 1 and "no logged prediction with an outcome" in r.stderr, r.stderr)
    r = run(["train", "--from-outcomes", "nope", "--db", url])
    check(r.returncode == 1 and "--config" in r.stderr, r.stderr)
    # the outcomes' split is on the prediction time, under split.column's name: a feature of that name is refused
    clash = json.load(open(config))
    clash["features"] = dict(clash["features"], categorical=clash["features"]["categorical"] + ["week"])
    r = run(["train", "--from-outcomes", "demo", "--config", write_json(clash), "--dry-run", "--db", url])
    check(r.returncode == 1 and 'split.column: "week" is also a feature' in r.stderr, r.stderr[-1000:])
    check(run(["train", "--from-outcomes", "demo", "--data", data, "--db", url]).returncode == 2, "one source")
    check(run(["train", "--data", data, "--since", "2026-01-01", "--config", config, "--db", url]).returncode == 2,
          "--since without --from-outcomes")


def escape_brand(body, brand):
    """body with the brand's first character as a \\u escape: the same string to jansson, which the strict
    parser leaves to it (it takes no escapes)."""
    out = body.replace('"brand": "' + brand[0], '"brand": "\\u%04x' % ord(brand[0]), 1)
    check(out != body, "no brand %r to escape in %s" % (brand, body))
    return out


def test_a_recommendation_is_logged_at_its_chosen_price_and_takes_outcomes(ctx):
    from test_recommend import new_items
    url, s = serve_trained(ctx)
    db = dbname(url)
    items = new_items(6, seed=11)
    items.append(dict(items[0], id="never", min_exposure_probability=1.0))  # infeasible: no id, nothing logged
    before = log_counts(s)[0]
    r = s.post("/v1/recommend", {"objective": "profit", "items": items, "alternatives": 2})
    check(r.status == 200, "recommend: %d %s" % (r.status, r.body[:300]))
    recs = r.json()["recommendations"]
    feasible = [x for x in recs if x["feasible"]]
    check(len(feasible) == 6 and "prediction_id" not in recs[-1], "ids on the feasible ones only")
    s.wait_for(lambda: log_counts(s)[0] == before + 6, 30, "the six choices logged")
    by_id = {it["id"]: it for it in items}
    for x in feasible:
        row = ctx.pg.query(db, "SELECT price, promotion_level, features::json ->> 'price', expected_sales, features::json ->> 'brand' "
                               "FROM shelfcast.predictions WHERE prediction_id = '%s'" % x["prediction_id"]).split("|")
        check(abs(float(row[0]) - x["price"]) <= 1e-6 * x["price"] and int(row[1]) == x["promotion_level"] and
              float(row[2]) == float(row[0]) and abs(float(row[3]) - x["expected_sales"]) <= 1e-6 * max(1, x["expected_sales"]),
              "logged at the chosen price and level: %s vs %s" % (row, x))
        # the features as sent, every member in its order with its value, but the price: the chosen one
        text = ctx.pg.query(db, "SELECT features FROM shelfcast.predictions WHERE prediction_id = '%s'" % x["prediction_id"])
        logged = json.loads(text, object_pairs_hook=list)
        sent = list(dict(by_id[x["id"]]["features"], price=x["price"]).items())
        check(logged == sent and json.loads(text)["price"] == x["price"],
              "the listed features: %s vs %s" % (logged, sent))
    # the same through the jansson path (an escaped string is not the strict parser's): logged alike
    escaped = dict(items[1], id="escaped")
    raw = json.dumps({"objective": "profit", "items": [escaped]}).replace('"brand": "', '"brand": "\\u0041')
    escaped["features"] = dict(escaped["features"], brand="A" + escaped["features"]["brand"])
    r2 = s.request("POST", "/v1/recommend", raw.encode(), {"Content-Type": "application/json"})
    check(r2.status == 200, "recommend, escaped: %d %s" % (r2.status, r2.body[:300]))
    x2 = r2.json()["recommendations"][0]
    check(x2["feasible"] and '\\u0041' in raw, "the escaped item: %s" % x2)
    s.wait_for(lambda: log_counts(s)[0] == before + 7, 30, "the escaped item's choice logged")
    text = ctx.pg.query(db, "SELECT features FROM shelfcast.predictions WHERE prediction_id = '%s'" % x2["prediction_id"])
    sent = list(dict(escaped["features"], price=x2["price"]).items())
    check(json.loads(text, object_pairs_hook=list) == sent, "the escaped item's listed features: %s vs %s" % (text, sent))
    before += 1
    # byte for byte: both paths log the text jansson's dump writes, reals in its digits (2.5e-05 as
    # "2.5000000000000001e-5"), as /v1/predict's jansson path logs the same features at the chosen price
    odd = dict(items[2], id="odd", features=dict(items[2]["features"], weight_kg=2.5e-05))
    plain = json.dumps({"objective": "profit", "items": [odd]})
    picked = []
    for body in (plain, escape_brand(plain, odd["features"]["brand"])):
        r3 = s.request("POST", "/v1/recommend", body.encode(), {"Content-Type": "application/json"})
        check(r3.status == 200 and r3.json()["recommendations"][0]["feasible"], "recommend odd: %s" % r3.body[:300])
        picked.append(r3.json()["recommendations"][0])
    check(picked[0]["price"] == picked[1]["price"], "both paths, one price: %s" % picked)
    chosen = dict(odd["features"], price=picked[0]["price"])
    r4 = s.request("POST", "/v1/predict", escape_brand(json.dumps({"items": [{"features": chosen}]}), chosen["brand"]).encode(),
                   {"Content-Type": "application/json"})
    check(r4.status == 200, "predict odd: %s" % r4.body[:300])
    s.wait_for(lambda: log_counts(s)[0] == before + 6 + 3, 30, "the odd item's three records logged")
    before += 3
    logged = [ctx.pg.query(db, "SELECT features FROM shelfcast.predictions WHERE prediction_id = '%s'" % pid)
              for pid in (picked[0]["prediction_id"], picked[1]["prediction_id"],
                          r4.json()["predictions"][0]["prediction_id"])]
    check("2.5000000000000001e-5" in logged[2] and logged[0] == logged[1] == logged[2],
          "the logged texts differ: fast %s, jansson %s, /v1/predict's %s" % tuple(logged))
    r = post(s, [{"prediction_id": x["prediction_id"], "units": 3} for x in feasible])
    check(r.json() == {"accepted": 6, "unknown_prediction": 0, "duplicate": 0}, r.body)
    bad = s.post("/v1/recommend", {"items": [dict(items[0], levels=[9])]})
    check(bad.status == 422, "a refused recommendation")
    time.sleep(0.3)
    check(log_counts(s)[0] == before + 6, "a refused request logs nothing")
    s.stop()


def test_train_from_outcomes_takes_long_feature_names_and_refuses_also_data_missing_a_column(ctx):
    """A feature name past PostgreSQL's 63-byte identifiers (config names may be 128) is read back whole; an
    --also-data file without one of the config's columns is refused by name, as train --data refuses it."""
    long = "weight_in_kilograms_as_weighed_at_the_warehouse_on_the_day_of_listing_x"  # 72 bytes
    src = list(csv.DictReader(open(demo_csv(1200, seed=17))))
    d = temp_dir("sc-long-")
    data = os.path.join(d, "long.csv")
    with open(data, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[long if k == "weight_kg" else k for k in src[0]])
        w.writeheader()
        for r in src:
            w.writerow({(long if k == "weight_kg" else k): v for k, v in r.items()})
    cfg = example_config(2)
    cfg["features"] = dict(cfg["features"], numeric=["price", long])
    config = write_json(cfg)
    url = ctx.db()
    train(url, data, config=config, extra=["--activate"])
    url, s = serve_trained(ctx, url=url)
    items = [{"promotion_level": int(r["promo_level"]),
              "features": {"brand": r["brand"], "category": r["category"], "price": float(r["price"]),
                           long: float(r["weight_kg"])}} for r in src[:60]]
    preds = s.predict({"items": items}).json()["predictions"]
    s.wait_for(lambda: log_counts(s)[0] == 60, 30, "logged")
    r = post(s, [{"prediction_id": p["prediction_id"], "units": float(row["units"]), "exposed": row["featured"] == "1"}
                 for p, row in zip(preds, src)])
    check(r.json()["accepted"] == 60, r.body)
    s.stop()
    r = run(["train", "--from-outcomes", "demo", "--dry-run", "--db", url])
    check(r.returncode == 0, "train --from-outcomes: %s" % r.stderr[-2000:])
    check(json.loads(r.stdout)["training"]["rows"]["read"] == 60, r.stdout[:500])
    short = os.path.join(d, "short.csv")
    with open(data) as f, open(short, "w", newline="") as out:
        rows = csv.DictReader(f)
        w = csv.DictWriter(out, fieldnames=[k for k in rows.fieldnames if k != "brand"])
        w.writeheader()
        for row in rows:
            del row["brand"]
            w.writerow(row)
    r = run(["train", "--from-outcomes", "demo", "--also-data", short, "--dry-run", "--db", url])
    check(r.returncode == 1 and '--also-data %s has no column "brand"' % short in r.stderr, r.stderr[-1000:])
