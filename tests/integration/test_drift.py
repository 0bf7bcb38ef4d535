"""Issue 17: input drift — per feature PSI and rates over a sliding window, in GET /v1/models/{name} and /metrics."""
import csv
import json
import os
import random
import re

from harness import SOURCE_ROOT, Skip, check, demo_csv, example, run, safetensors_metadata, temp_dir, train

OJ_NUMERIC = ["regular_price", "size_oz", "competitor_min_price", "competitor_mean_price", "age60", "educ",
              "ethnic", "income", "hhlarge", "workwom", "hval150", "sstrdist", "sstrvol", "cpdist5", "cpwvol5"]


def oj_csv():
    shared = os.environ.get("SHELFCAST_SHARED", os.path.join(SOURCE_ROOT, "..", "shared"))
    path = os.path.join(shared, "data", "oj", "oj.csv")
    if os.path.exists(path):
        return path
    raise Skip("the OJ data set is not here (set SHELFCAST_SHARED to the directory holding data/oj)")


def quick_config(base, **model):
    """The example config with a short training: drift does not depend on the network."""
    cfg = json.load(open(base))
    cfg["model"].update(model)
    path = os.path.join(temp_dir("sc-cfg-"), "dataset.json")
    json.dump(cfg, open(path, "w"))
    return path


def replay(s, items, per_request=1000):
    for i in range(0, len(items), per_request):
        r = s.predict({"items": items[i:i + per_request]})
        check(r.status == 200, "replay: %d %r" % (r.status, r.body[:300]))


def drift(s, name):
    r = s.get("/v1/models/" + name)
    check(r.status == 200, "GET /v1/models/%s: %d" % (name, r.status))
    return r.json()["drift"]


def gauges(s, metric):
    """{(model, feature): value} of one drift gauge in /metrics."""
    out = {}
    for line in s.get("/metrics").body.decode().splitlines():
        m = re.match(r'%s\{model="([^"]*)",feature="([^"]*)"\} (\S+)$' % metric, line)
        if m:
            out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def by_name(d):
    return {f["name"]: f for f in d["features"]}


def oj_items(rows, shifted=frozenset()):
    items = []
    for i, r in enumerate(rows):
        f = {k: (float(r[k]) * (1.5 if k == "regular_price" and i in shifted else 1)) if r[k] != "" else None
             for k in OJ_NUMERIC}
        f["brand"], f["store"] = r["brand"], int(r["store"])
        items.append({"features": f})
    return items


def test_drift_replay_of_the_training_period_is_stable_and_a_price_shift_is_caught(ctx):
    """The must-hold: 10,000 rows of the training weeks give every PSI < 0.1; regular_price x1.5 on 30 % of them > 0.2."""
    path = oj_csv()
    url = ctx.db()
    train(url, path, config=quick_config(example("oj", "dataset.json"), epochs=1), extra=["--activate"])
    s = ctx.serve(db_url=url, wait_ready=True)
    rng = random.Random(17)
    period = [r for r in csv.DictReader(open(path)) if int(r["week"]) < 137]  # the config's training weeks
    rows = rng.sample(period, 10000)
    replay(s, oj_items(rows))
    d = drift(s, "oj")
    check(d["status"] == "tracking" and d["items"] == 10000 and d["window"] == 10000, d)
    names = [f["name"] for f in d["features"]]
    # per feature: regular_price feeds a raw and a log input, and has one histogram
    check(names == ["regular_price", "size_oz", "age60", "educ", "ethnic", "income", "hhlarge", "workwom",
                    "hval150", "sstrdist", "sstrvol", "cpdist5", "cpwvol5", "competitor_min_price",
                    "competitor_mean_price", "brand", "store"], names)
    stable = {f["name"]: f["psi"] for f in d["features"]}
    stable_oor = by_name(d)["regular_price"]["out_of_range_rate"]
    check(all(p is not None and p < 0.1 for p in stable.values()), "PSI of the training period: %r" % stable)
    psi = gauges(s, "shelfcast_feature_psi")
    check(all(abs(psi[("oj", n)] - p) < 1e-6 for n, p in stable.items()), "gauges %r vs %r" % (psi, stable))

    # the same rows, regular_price x1.5 on 30 % of them: the window turns over to them whole
    shifted = frozenset(rng.sample(range(10000), 3000))
    replay(s, oj_items(rows, shifted))
    d = drift(s, "oj")
    check(d["items"] == 10000, d["items"])
    after = by_name(d)
    print("# drift: stable %r; shifted %r" % ({k: round(v, 4) for k, v in stable.items()}, {n: round(f["psi"], 4) for n, f in after.items()}))
    check(after["regular_price"]["psi"] > 0.2, "shifted regular_price PSI %r" % after["regular_price"]["psi"])
    others = {n: f["psi"] for n, f in after.items() if n != "regular_price"}
    check(all(p < 0.1 for p in others.values()), "the other features moved: %r" % others)
    check(after["regular_price"]["out_of_range_rate"] > stable_oor, "out of range %r, was %r"
          % (after["regular_price"], stable_oor))
    psi = gauges(s, "shelfcast_feature_psi")
    check(psi[("oj", "regular_price")] > 0.2 and all(psi[("oj", n)] < 0.1 for n in others), psi)
    s.stop()


def demo_items(rows, price=lambda i, p: p, brand=lambda i, b: b):
    return [{"features": {"brand": brand(i, r["brand"]), "category": r["category"],
                          "price": price(i, float(r["price"])), "weight_kg": float(r["weight_kg"])}}
            for i, r in enumerate(rows)]


def test_drift_reports_every_figure_and_gauge_over_a_sliding_window(ctx):
    url = ctx.db()
    path = demo_csv(4000, seed=17)
    train(url, path, config=quick_config(example("demo", "dataset.json"), epochs=2), extra=["--activate"])
    s = ctx.serve(db_url=url, wait_ready=True, args=["--drift-window", "2000"])
    d = drift(s, "demo")
    check(d["status"] == "tracking" and d["items"] == 0 and d["window"] == 2000 and d["min_values"] == 1000, d)
    check(d["reference_rows"] == 3200 and d["epsilon"] == 0.0001, d)
    check(all(f["psi"] is None and f["missing_rate"] is None for f in d["features"]), d["features"])
    rows = list(csv.DictReader(open(path)))[:2000]
    # under min_values: no PSI yet, NaN in /metrics; the rates are there
    replay(s, demo_items(rows[:500]), per_request=250)
    d = drift(s, "demo")
    check(d["items"] == 500 and all(f["psi"] is None for f in d["features"]), d)
    psi = gauges(s, "shelfcast_feature_psi")
    check(len(psi) == 4 and all(v != v for v in psi.values()), "PSI before min_values: %r" % psi)
    replay(s, demo_items(rows[500:]))
    d = by_name(drift(s, "demo"))
    check(all(f["psi"] < 0.1 for f in d.values()), d)
    check(d["price"]["unknown_rate"] is None and d["brand"]["out_of_range_rate"] is None, d)
    # a strong shift, with missing, out-of-range and unknown values, replaces the window whole
    items = demo_items(rows, price=lambda i, p: p * 10 if i % 10 < 3 else p,
                       brand=lambda i, b: "NewBrand" if i % 20 == 0 else b)
    for i in range(0, 2000, 50):
        del items[i]["features"]["weight_kg"]
    replay(s, items, per_request=400)
    d = drift(s, "demo")
    check(d["items"] == 2000, d["items"])
    f = by_name(d)
    check(f["price"]["psi"] > 0.2 and f["category"]["psi"] < 0.1 and f["weight_kg"]["psi"] < 0.1, f)
    check(abs(f["weight_kg"]["missing_rate"] - 0.02) < 1e-9 and f["weight_kg"]["values"] == 1960, f["weight_kg"])
    check(abs(f["brand"]["unknown_rate"] - 0.05) < 1e-9, f["brand"])
    check(f["price"]["out_of_range_rate"] > 0.1, f["price"])
    metrics = {m: gauges(s, m) for m in ("shelfcast_feature_psi", "shelfcast_feature_missing_ratio",
                                         "shelfcast_feature_out_of_range_ratio", "shelfcast_feature_unknown_ratio")}
    check(abs(metrics["shelfcast_feature_missing_ratio"][("demo", "weight_kg")] - 0.02) < 1e-9, metrics)
    check(abs(metrics["shelfcast_feature_unknown_ratio"][("demo", "brand")] - 0.05) < 1e-9, metrics)
    check(("demo", "brand") not in metrics["shelfcast_feature_out_of_range_ratio"], metrics)
    check(abs(metrics["shelfcast_feature_psi"][("demo", "price")] - f["price"]["psi"]) < 1e-6, metrics)
    check('shelfcast_drift_window_items{model="demo",version="1"} 2000' in s.get("/metrics").body.decode(),
          "window items gauge")
    # a request that fails is not in the window
    r = s.predict({"items": [{"features": {"price": "x"}}]})
    check(r.status == 422 and drift(s, "demo")["items"] == 2000, "a failed request counted")
    s.stop()


def test_drift_is_not_reported_without_a_reference_or_with_the_window_off(ctx):
    url = ctx.db()
    train(url, demo_csv(1500), config=quick_config(example("demo", "dataset.json"), epochs=1), extra=["--activate"])
    s = ctx.serve(db_url=url, wait_ready=True, args=["--drift-window", "0"])
    replay(s, [{"features": {"brand": "Acme", "price": 3.0}}] * 10)
    d = drift(s, "demo")
    check(d["status"] == "off" and d["window"] == 0 and d["features"] == [] and d["items"] == 0, d)
    check(not gauges(s, "shelfcast_feature_psi"), "gauges while off")
    s.stop()
    # a version trained before drift references: its spec has none (exported, the member taken out of
    # its spec, imported as a new version: the checksum covers the spec, so an edit in place would not load)
    d = temp_dir("sc-drift-old-")
    weights, spec_path = os.path.join(d, "demo.safetensors"), os.path.join(d, "spec.json")
    r = run(["models", "export", "demo", "1", "--out", weights, "--db", url])
    check(r.returncode == 0, r.stderr)
    spec = json.loads(safetensors_metadata(weights)["spec"])
    check("drift_reference" in spec, "the trained spec has a drift reference")
    del spec["drift_reference"]
    json.dump(spec, open(spec_path, "w"))
    r = run(["models", "import", "demo", "--weights", weights, "--spec", spec_path, "--activate", "--db", url])
    check(r.returncode == 0, r.stderr)
    s = ctx.serve(db_url=url, wait_ready=True)
    replay(s, [{"features": {"brand": "Acme", "price": 3.0}}] * 10)
    d = drift(s, "demo")
    check(d["status"] == "no_reference" and d["features"] == [] and d["reference_rows"] is None, d)
    check(not gauges(s, "shelfcast_feature_psi"), "gauges without a reference")
    r = s.get("/v1/models/nope")
    check(r.status == 404, r.status)
    s.stop()


def test_drift_window_flag_is_checked(ctx):
    for bad in ("-1", "1000001", "ten", "1e4"):
        r = run(["serve", "--drift-window", bad, "--listen", "127.0.0.1:1"])
        check(r.returncode == 2 and '--drift-window "%s"' % bad in r.stderr, "--drift-window %s: %d %r"
              % (bad, r.returncode, r.stderr))
    r = run(["serve", "--listen", "127.0.0.1:1"], env={"SHELFCAST_DRIFT_WINDOW": "x"})
    check(r.returncode == 2 and "--drift-window" in r.stderr, "env: %d %r" % (r.returncode, r.stderr))
    r = run(["serve", "--help"])
    check("--drift-window" in r.stdout and "SHELFCAST_DRIFT_WINDOW" in r.stdout, r.stdout[-500:])
