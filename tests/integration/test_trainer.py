"""Issue 4: shelfcast train, predict and demo-data with a real registry."""
import csv
import json
import os

from harness import check, dbname, demo_csv, example, run, temp_dir, train


def count_versions(ctx, url):
    return int(ctx.pg.query(dbname(url), "SELECT count(*) FROM shelfcast.model_versions"))


def test_train_prints_metrics_json_and_progress(ctx):
    url = ctx.db()
    r = train(url, demo_csv(3000))
    m = json.loads(r.stdout)
    for path in (("version",), ("sales", "r2_log"), ("exposure", "auc"), ("baselines", "linear", "r2_log"),
                 ("baselines", "logistic", "auc"), ("sales", "mae_log"), ("sales", "rmse"), ("sales", "mape"),
                 ("sales", "wmape"), ("exposure", "log_loss"), ("exposure", "accuracy"), ("exposure", "precision"),
                 ("exposure", "recall"), ("exposure", "f1"), ("exposure", "ece")):
        node = m
        for p in path:
            check(isinstance(node, dict) and p in node, "metrics lack %s: %r" % (".".join(path), m))
            node = node[p]
    check(m["version"] == 1 and m["activated"] is False, m)
    check(m["sales"]["r2_log"] > m["baselines"]["linear"]["r2_log"] - 0.05, "the MLP is far below the linear baseline")
    epochs = [l for l in r.stderr.splitlines() if l.startswith("epoch ")]
    check(epochs and "train_loss" in epochs[0] and "valid_loss" in epochs[0], "progress: %r" % r.stderr[:300])
    tr = m["training"]
    for k in ("rows", "seed", "data_checksum", "duration_seconds", "shelfcast_version", "best_epoch"):
        check(k in tr, "training facts lack " + k)
    db = dbname(url)
    stored = json.loads(ctx.pg.query(db, "SELECT metrics::text FROM shelfcast.model_versions WHERE version = 1"))
    check(stored["sales"]["r2_log"] == m["sales"]["r2_log"], "stored metrics differ from printed ones")
    check(ctx.pg.query(db, "SELECT status FROM shelfcast.model_versions") == "staged", "not staged")


def test_same_seed_same_data_same_weights(ctx):
    url = ctx.db()
    data = demo_csv(1500)
    train(url, data)
    train(url, data)
    db = dbname(url)
    check(ctx.pg.query(db, "SELECT count(DISTINCT checksum) FROM shelfcast.model_versions") == "1", "checksums differ")


def write_config(d, **changes):
    cfg = json.load(open(example("demo", "dataset.json")))
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    path = os.path.join(d, "cfg-%d.json" % len(os.listdir(d)))
    json.dump(cfg, open(path, "w"))
    return path


def rewrite(src, dst, fn):
    with open(src) as f, open(dst, "w", newline="") as g:
        r = csv.reader(f)
        w = csv.writer(g)
        header = next(r)
        w.writerow(header)
        for i, row in enumerate(r):
            out = fn(header, row, i)
            if out is not None:
                w.writerow(out)


def test_bad_input_gets_a_clear_error_and_registers_nothing(ctx):
    url = ctx.db()
    d = temp_dir("sc-bad-train-")
    data = demo_csv(1500)
    def col(header, name):
        return header.index(name)
    cases = []
    cases.append(("a missing file", os.path.join(d, "nope.csv"), None, "cannot open"))
    open(os.path.join(d, "empty.csv"), "w").close()
    cases.append(("an empty file", os.path.join(d, "empty.csv"), None, "empty"))
    open(os.path.join(d, "header.csv"), "w").write(open(data).readline())
    cases.append(("a header and no rows", os.path.join(d, "header.csv"), None, "no rows"))
    rewrite(data, os.path.join(d, "nocol.csv"), lambda h, r, i: [x for j, x in enumerate(r) if h[j] != "weight_kg"] if i >= 0 else r)
    # the header too: rebuild it without the column
    lines = open(os.path.join(d, "nocol.csv")).read().splitlines()
    lines[0] = ",".join(x for x in lines[0].split(",") if x != "weight_kg")
    open(os.path.join(d, "nocol.csv"), "w").write("\n".join(lines) + "\n")
    cases.append(("a missing column", os.path.join(d, "nocol.csv"), None, 'no column "weight_kg"'))
    rewrite(data, os.path.join(d, "text.csv"), lambda h, r, i: [("abc" if (i == 7 and h[j] == "price") else x) for j, x in enumerate(r)])
    cases.append(("a non-numeric value in a numeric column", os.path.join(d, "text.csv"), None, 'line 9, column 4 (price): expected a number, got "abc"'))
    rewrite(data, os.path.join(d, "notarget.csv"), lambda h, r, i: [("" if h[j] == "units" else x) for j, x in enumerate(r)])
    cases.append(("a target with no usable rows", os.path.join(d, "notarget.csv"), None, 'target column "units" has no usable rows'))
    rewrite(data, os.path.join(d, "nolevel.csv"), lambda h, r, i: [("" if h[j] == "promo_level" else x) for j, x in enumerate(r)])
    cases.append(("zero rows left after cleaning", os.path.join(d, "nolevel.csv"), None, "no rows are left after cleaning"))
    rewrite(data, os.path.join(d, "expo.csv"), lambda h, r, i: [("2" if (i == 3 and h[j] == "featured") else x) for j, x in enumerate(r)])
    cases.append(("an exposure label that is not 0/1", os.path.join(d, "expo.csv"), None, "must be 0 or 1"))
    cases.append(("a config naming a column twice", data,
                  write_config(d, features={"numeric": ["price", "price"], "categorical": ["brand"]}), "named twice"))
    cases.append(("a config with an unknown key", data, write_config(d, colour="red"), "colour: unknown field"))
    cases.append(("too many categories", data,
                  write_config(d, cleaning={"max_categories": 3}), "more than 3 distinct values"))
    cases.append(("a split that leaves the test part empty", data,
                  write_config(d, split={"column": "price", "test_from": 1e9}), "test part is empty"))
    cases.append(("a malformed config", data, None, "dataset config"))
    open(os.path.join(d, "broken.json"), "w").write("{\"name\": ")
    for name, path, cfg, fragment in cases:
        if name == "a malformed config":
            cfg = os.path.join(d, "broken.json")
        r = run(["train", "--db", url, "--data", path, "--config", cfg or example("demo", "dataset.json")])
        check(r.returncode == 1, "%s: exit %d (%s)" % (name, r.returncode, r.stderr[-300:]))
        check(fragment in r.stderr, "%s: %r lacks %r" % (name, r.stderr[-400:], fragment))
        check(r.stdout == "", "%s: printed metrics" % name)
    check(count_versions(ctx, url) == 0, "something was registered")
    r = run(["train", "--db", url, "--config", example("demo", "dataset.json")])
    check(r.returncode == 2, "no --data: exit %d" % r.returncode)


def test_activate_if_better_compares_on_the_same_test_split(ctx):
    url = ctx.db()
    data = demo_csv(2000)
    d = temp_dir("sc-better-")
    # a modest first version, so that "strong" below beats it by a margin, not by a seed's luck
    modest = write_config(d, model={"hidden": [16, 8], "epochs": 20, "seed": 7})
    r = train(url, data, config=modest, extra=["--activate-if-better"])
    check(json.loads(r.stdout)["activated"] is True and "no active version" in r.stderr, r.stderr[-300:])
    weak = write_config(d, model={"hidden": [4, 2], "epochs": 1, "seed": 3})
    r = train(url, data, config=weak, extra=["--activate-if-better"])
    m = json.loads(r.stdout)
    check(m["activated"] is False and "does not beat version 1" in r.stderr, r.stderr[-300:])
    check(m["compared_with"]["version"] == 1 and m["compared_with"]["r2_log"] > m["sales"]["r2_log"], m["compared_with"])
    strong = write_config(d, model={"hidden": [64, 32], "epochs": 150, "patience": 20, "learning_rate": 0.002, "batch_size": 64, "seed": 9})
    r = train(url, data, config=strong, extra=["--activate-if-better"])
    m = json.loads(r.stdout)
    check(m["activated"] is True and "beats version 1" in r.stderr, "%s %r" % (r.stderr[-300:], m.get("compared_with")))
    db = dbname(url)
    check(ctx.pg.query(db, "SELECT version FROM shelfcast.model_versions WHERE status = 'active'") == "3", "active version")


def test_train_from_sql(ctx):
    url = ctx.db()
    data = demo_csv(1500)
    db = dbname(url)
    ctx.pg.query(db, "CREATE TABLE sales (item_id text, brand text, category text, price float8, weight_kg float8, "
                     "promo_level int, units int, featured int, unit_cost float8)")
    ctx.pg.psql(db, "\\copy sales FROM '%s' WITH (FORMAT csv, HEADER)" % data)
    r = train(url, "x", extra=[])  if False else run(["train", "--db", url, "--sql", "SELECT * FROM sales",
                                                        "--config", example("demo", "dataset.json")])
    check(r.returncode == 0, r.stderr[-500:])
    m = json.loads(r.stdout)
    check(m["training"]["rows"]["read"] == 1500, m["training"]["rows"])
    r = run(["train", "--db", url, "--sql", "DELETE FROM sales RETURNING *", "--config", example("demo", "dataset.json")])
    check(r.returncode == 1 and "--sql" in r.stderr, "a writing query must fail: " + r.stderr[-300:])
    check(ctx.pg.query(db, "SELECT count(*) FROM sales") == "1500", "the query wrote")
    # a quoted alias with a '"' of its own: the header field doubles it, as RFC 4180 wants
    cfg = write_config(temp_dir("sc-sqlq-"), features={"numeric": ["price", 'weight "kg"'],
                                                     "categorical": ["brand", "category"]},
                       model={"hidden": [8], "epochs": 2, "seed": 7})
    r = run(["train", "--db", url, "--dry-run", "--config", cfg, "--sql",
             'SELECT item_id, brand, category, price, weight_kg AS "weight ""kg""", promo_level, units, featured '
             "FROM sales"])
    check(r.returncode == 0, "a quoted alias with a quote: " + r.stderr[-500:])
    check(json.loads(r.stdout)["training"]["rows"]["read"] == 1500, r.stdout[-300:])


def test_offline_predict_gives_the_api_numbers(ctx):
    url = ctx.db()
    data = demo_csv(2000)
    train(url, data, extra=["--activate"])
    d = temp_dir("sc-pred-")
    rows = list(csv.DictReader(open(data)))[:50]
    inp = os.path.join(d, "in.csv")
    with open(inp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["item_id", "brand", "category", "price", "weight_kg", "promo_level"])
        w.writeheader()
        for i, r in enumerate(rows):
            w.writerow({k: r[k] for k in w.fieldnames} | ({"promo_level": ""} if i % 2 else {}))
    out = os.path.join(d, "out.csv")
    r = run(["predict", "--model", "demo", "--data", inp, "--out", out, "--db", url])
    check(r.returncode == 0, r.stderr)
    got = list(csv.DictReader(open(out)))
    check(list(got[0].keys()) == ["item_id", "promotion_level", "predicted_sales", "exposure_probability", "recommended_promotion_level"],
          "columns %r" % list(got[0].keys()))
    s = ctx.serve(db_url=url, wait_ready=True)
    items = []
    for i, r in enumerate(rows):
        it = {"id": r["item_id"], "features": {"brand": r["brand"], "category": r["category"],
                                               "price": float(r["price"]), "weight_kg": float(r["weight_kg"])}}
        if i % 2 == 0:
            it["promotion_level"] = int(r["promo_level"])
        items.append(it)
    api = s.predict({"items": items}).json()["predictions"]
    for a, b in zip(api, got):
        check(a["id"] == b["item_id"], "ids")
        for k in ("promotion_level", "recommended_promotion_level"):
            check(str(a[k]) == b[k], "%s: %r vs %r" % (k, a[k], b[k]))
        for k in ("predicted_sales", "exposure_probability"):
            check(float(b[k]) == a[k], "%s: offline %s vs API %r" % (k, b[k], a[k]))
    r = run(["predict", "--model", "demo@7", "--data", inp, "--db", url])
    check(r.returncode == 1 and "no version 7" in r.stderr, r.stderr)
    for bad in ("", "@1", "demo@", "demo@0", "demo@1x", "demo@+1", "demo@2147483648", "x" * 200):
        r = run(["predict", "--model", bad, "--data", inp, "--db", url])
        check(r.returncode == 2 and '--model "%s": expected NAME or NAME@VERSION' % bad in r.stderr,
              "--model %r: %d %r" % (bad, r.returncode, r.stderr))
    s.stop()


def test_recommendations_lose_little_revenue_against_the_ground_truth(ctx):
    url = ctx.db()
    d = temp_dir("sc-truth-")
    train(url, demo_csv(10000, seed=7), extra=["--activate"])
    hold = os.path.join(d, "holdout.csv")
    truth = os.path.join(d, "truth.csv")
    r = run(["demo-data", "--rows", "2000", "--seed", "99", "--out", hold, "--truth", truth])
    check(r.returncode == 0, r.stderr)
    # new items: drop the level they happened to get
    rewrite(hold, os.path.join(d, "new.csv"), lambda h, row, i: [("" if h[j] == "promo_level" else x) for j, x in enumerate(row)])
    out = os.path.join(d, "pred.csv")
    r = run(["predict", "--model", "demo", "--data", os.path.join(d, "new.csv"), "--out", out, "--db", url])
    check(r.returncode == 0, r.stderr)
    t = {row["item_id"]: row for row in csv.DictReader(open(truth))}
    losses = []
    for p in csv.DictReader(open(out)):
        rev = [float(t[p["item_id"]]["revenue_%d" % k]) for k in range(4)]
        best = max(rev)
        got = rev[int(p["recommended_promotion_level"])]
        losses.append((best - got) / best if best > 0 else 0.0)
    mean = sum(losses) / len(losses)
    print("# mean revenue lost against the truly best level: %.2f%% over %d held-out items" % (100 * mean, len(losses)))
    check(mean <= 0.03, "recommendations lose %.2f%% of the best revenue" % (100 * mean))


def test_demo_data_is_reproducible(ctx):
    d = temp_dir("sc-demo-")
    a, b, c = (os.path.join(d, x) for x in ("a.csv", "b.csv", "c.csv"))
    run(["demo-data", "--rows", "500", "--seed", "3", "--out", a])
    run(["demo-data", "--rows", "500", "--seed", "3", "--out", b])
    run(["demo-data", "--rows", "500", "--seed", "4", "--out", c])
    check(open(a).read() == open(b).read(), "same seed, different data")
    check(open(a).read() != open(c).read(), "different seeds, same data")
    header = open(a).readline().strip().split(",")
    check(header == ["item_id", "brand", "category", "price", "weight_kg", "promo_level", "units", "featured", "unit_cost"], header)
    check(len(open(a).read().splitlines()) == 501, "rows")


NAN_SPEC = {
    "format": "shelfcast.spec.v1",
    "inputs": {"numeric": [{"name": "x", "mean": 0, "std": 1, "required": True},
                           {"name": "price", "mean": 0, "std": 1, "default": 1, "clip": [0, 2]}],
               "categorical": []},
    "promotion": {"column": "level", "price_column": "price", "objective": "units",
                  "levels": [{"level": 0, "discount": 0, "cost": 0}]},
    "target": {"column": "units", "transform": "log1p", "mean": 0, "std": 1},
    "exposure": {"column": "featured"},
    "architecture": {"input_size": 3, "hidden": [2], "activation": "relu"},
}


def test_offline_predict_refuses_an_output_that_is_not_finite(ctx):
    # hidden = relu(x), relu(x); sales = h0 - h1: x = 1e308 (beyond float) gives inf - inf
    from harness import safetensors_bytes
    url = ctx.db()
    d = temp_dir("sc-nan-")
    weights, spec, rows = (os.path.join(d, n) for n in ("nan.safetensors", "nan.spec.json", "rows.csv"))
    open(weights, "wb").write(safetensors_bytes({
        "dense.0.weight": ((2, 3), [1, 0, 0, 1, 0, 0]), "dense.0.bias": ((2,), [0, 0]),
        "dense.1.weight": ((2, 2), [1, -1, 0, 0]), "dense.1.bias": ((2,), [0, 0])}))
    json.dump(NAN_SPEC, open(spec, "w"))
    r = run(["models", "import", "nan", "--weights", weights, "--spec", spec, "--activate", "--db", url])
    check(r.returncode == 0, r.stderr)
    open(rows, "w").write("x,price,level\n3,1,0\n1e308,1,0\n")
    r = run(["predict", "--model", "nan", "--data", rows, "--db", url])
    check(r.returncode == 1 and "row 2" in r.stderr and "not a finite number" in r.stderr,
          "offline predict of a non-finite output: %d %r %r" % (r.returncode, r.stdout[-200:], r.stderr[-300:]))
    open(rows, "w").write("x,price,level\n3,1,0\n")
    r = run(["predict", "--model", "nan", "--data", rows, "--db", url])
    check(r.returncode == 0 and r.stdout.count("\n") == 2, "the finite row alone: %d %r" % (r.returncode, r.stderr))
