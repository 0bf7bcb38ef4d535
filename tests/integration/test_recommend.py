"""Issue 16: POST /v1/recommend — optimal within the model, consistent with /v1/predict, constraints never
violated, every refused field named, counted in the metrics, and the same numbers offline."""
import csv
import json
import os
import random

from harness import check, demo_csv, example, example_config, run, temp_dir, train, write_json

LEVELS = {l["level"]: l for l in json.load(open(example("demo", "dataset.json")))["promotion"]["levels"]}


def served_demo(ctx, rows=4000):
    url = ctx.db()
    train(url, demo_csv(rows, seed=7), extra=["--activate"])
    return url, ctx.serve(db_url=url, wait_ready=True)


def new_items(n, seed):
    rows = list(csv.DictReader(open(demo_csv(n, seed=seed))))
    return [{"id": r["item_id"], "features": {"brand": r["brand"], "category": r["category"],
                                              "weight_kg": float(r["weight_kg"]), "price": float(r["price"])},
             "unit_cost": float(r["unit_cost"])} for r in rows]


def recommend(s, body, status=200):
    r = s.post("/v1/recommend", body)
    check(r.status == status, "%d (expected %d): %r" % (r.status, status, r.body[:600]))
    return r.json()


def value(objective, level, expected, price, cost):
    l = LEVELS[level]
    eff = price * (1 - l["discount"])
    if objective == "units":
        return expected
    if objective == "profit":
        return expected * (eff - cost) - l["cost"]
    return expected * eff - l["cost"]


def test_recommend_is_the_best_of_the_model_and_agrees_with_predict(ctx):
    _, s = served_demo(ctx)
    items = new_items(12, seed=41)
    for it in items:
        p = it["features"]["price"]
        it["price"] = {"min": round(0.7 * p, 2), "max": round(1.3 * p, 2)}
    for objective in ("profit", "revenue"):
        rec = recommend(s, {"objective": objective, "items": items})["recommendations"]
        check([r["id"] for r in rec] == [it["id"] for it in items], "ids out of order")
        # digit for digit: /v1/predict on the same items at the chosen price and level, in one request
        asked = [{"id": it["id"], "features": dict(it["features"], price=r["price"]),
                  "promotion_level": r["promotion_level"]} for it, r in zip(items, rec)]
        pred = s.predict({"items": asked}).json()["predictions"]
        for r, p in zip(rec, pred):
            for key in ("predicted_sales", "expected_sales", "exposure_probability", "predicted_sales_interval"):
                check(r[key] == p[key], "%s %s: recommend %r, predict %r" % (r["id"], key, r[key], p[key]))
        # explained: the chosen option's explanation is /v1/predict's at that price and level
        rec_x = recommend(s, {"objective": objective, "explain": True, "items": items[:4]})["recommendations"]
        pred_x = s.predict({"explain": True, "items": asked[:4]}).json()["predictions"]
        for r, p in zip(rec_x, pred_x):
            check(r["explanation"] == p["explanation"], "%s: explanations differ" % r["id"])
        # the best of the model: no price of a 400-point scan at any level beats it by more than 0.5 %
        for it, r in zip(items, rec):
            lo, hi = it["price"]["min"], it["price"]["max"]
            prices = [lo + (hi - lo) * j / 399 for j in range(400)]
            scan = s.predict({"include_levels": True, "items": [
                {"features": dict(it["features"], price=p)} for p in prices]}).json()["predictions"]
            best = max(value(objective, l["level"], l["expected_sales"], p, it["unit_cost"])
                       for p, sc in zip(prices, scan) for l in sc["levels"])
            got = r["expected_" + objective]
            check(abs(got - value(objective, r["promotion_level"], r["expected_sales"], r["price"], it["unit_cost"]))
                  <= 1e-6 * max(1.0, abs(got)), "%s: expected_%s %r is not its own formula" % (r["id"], objective, got))
            check(got >= best - 0.005 * abs(best), "%s (%s): chose %r, a scan of /v1/predict finds %r"
                  % (r["id"], objective, got, best))


def test_recommend_never_violates_a_constraint(ctx):
    _, s = served_demo(ctx)
    rng = random.Random(5)
    items = new_items(60, seed=43)
    for it in items:
        p = it["features"]["price"]
        it["price"] = {"min": round(p * rng.uniform(0.5, 1.0), 2), "max": round(p * rng.uniform(1.0, 1.6), 2)}
        it["levels"] = sorted(rng.sample([0, 1, 2, 3], rng.randint(1, 4)))
        it["min_margin"] = rng.choice([0.0, 0.2, 0.4, 0.6])
        it["min_exposure_probability"] = rng.choice([0.0, 0.3, 0.5, 0.7])
    seen = {"feasible": 0, "infeasible": 0, "ending": 0}
    for ending in (None, 0.99):
        body = {"objective": "profit", "alternatives": 3, "items": items}
        if ending is not None:
            body["price_ending"] = ending
        for it, r in zip(items, recommend(s, body)["recommendations"]):
            if not r["feasible"]:
                seen["infeasible"] += 1
                check(r["reason"], "an infeasible item says why")
                continue
            seen["feasible"] += 1
            for o in [r] + r["alternatives"]:
                eff = o["price"] * (1 - LEVELS[o["promotion_level"]]["discount"])
                check(it["price"]["min"] <= o["price"] <= it["price"]["max"], "%s: price %r outside %r" % (it["id"], o["price"], it["price"]))
                check(o["promotion_level"] in it["levels"], "%s: level %r not in %r" % (it["id"], o["promotion_level"], it["levels"]))
                check((eff - it["unit_cost"]) / eff >= it["min_margin"] - 1e-12, "%s: margin below %r" % (it["id"], it["min_margin"]))
                check(abs(o["margin"] - (eff - it["unit_cost"]) / eff) < 1e-6, "%s: margin %r" % (it["id"], o["margin"]))
                check(o["exposure_probability"] >= it["min_exposure_probability"], "%s: exposure %r below %r"
                      % (it["id"], o["exposure_probability"], it["min_exposure_probability"]))
                if ending is not None:
                    seen["ending"] += 1
                    check(abs(round(o["price"] * 100) % 100 - 99) == 0 and abs(o["price"] * 100 - round(o["price"] * 100)) < 1e-6,
                          "%s: price %r does not end in .99" % (it["id"], o["price"]))
            values = [o["expected_profit"] for o in [r] + r["alternatives"]]
            check(values == sorted(values, reverse=True), "%s: options not best first: %r" % (it["id"], values))
    print("# %(feasible)d feasible, %(infeasible)d infeasible answers; %(ending)d options priced .99" % seen)
    check(seen["feasible"] >= 30 and seen["infeasible"] >= 5, seen)

    # each constraint, alone, makes an item infeasible with its own reason
    base = dict(items[0], levels=[0, 1, 2, 3], min_margin=0.0, min_exposure_probability=0.0)
    for change, ending, word in (({"unit_cost": 50.0, "min_margin": 0.5, "price": {"min": 1, "max": 2}}, None, "margin"),
                                 ({"price": {"min": 2.0, "max": 2.5}}, 0.99, "ending"),
                                 ({"min_exposure_probability": 1.0}, None, "exposure")):
        body = {"objective": "profit", "items": [dict(base, **change)]}
        if ending is not None:
            body["price_ending"] = ending
        r = recommend(s, body)["recommendations"][0]
        check(not r["feasible"] and word in r["reason"], "expected an infeasible item naming %s: %r" % (word, r))
    # outside the training range: allowed, flagged
    r = recommend(s, {"objective": "profit", "items": [dict(base, price={"min": 500, "max": 900})]})["recommendations"][0]
    check(r["searched"]["beyond_training"] and r["extrapolated"], r)


def test_recommend_refuses_bad_fields_by_name_and_is_counted(ctx):
    _, s = served_demo(ctx, rows=2000)
    ok = {"features": {"brand": "Acme", "category": "snacks", "weight_kg": 0.3}}
    cases = [
        ({"items": [dict(ok, unit_cost=-1)]}, "items[0].unit_cost"),
        ({"items": [dict(ok, unit_cost="1.2")]}, "items[0].unit_cost"),
        ({"items": [dict(ok, price={"min": 3, "max": 2})]}, "items[0].price.min"),
        ({"items": [dict(ok, price={"min": 0})]}, "items[0].price.min"),
        ({"items": [dict(ok, price={"max": -1})]}, "items[0].price.max"),
        ({"items": [dict(ok, levels=[0, 9])]}, "items[0].levels[1]"),
        ({"items": [dict(ok, min_margin=1.0)]}, "items[0].min_margin"),
        ({"items": [dict(ok, min_margin=-0.5)]}, "items[0].min_margin"),
        ({"items": [dict(ok, min_exposure_probability=1.5)]}, "items[0].min_exposure_probability"),
        ({"objective": "profit", "items": [ok]}, "objective"),
        ({"alternatives": 11, "items": [ok]}, "alternatives"),
        ({"price_ending": 1.0, "items": [ok]}, "price_ending"),
        ({"items": [dict(ok, features={"brand": "Acme", "weight_kg": "heavy"})]}, "items[0].features.weight_kg"),
        ({"items": [dict(ok, colour="red")]}, "items[0].colour"),
        ({"items": []}, "items"),
        ({"explain": "yes", "items": [ok]}, "explain"),
    ]
    for body, field in cases:
        e = recommend(s, body, status=422)["error"]
        check(e["field"] == field, "%r: field %r, expected %r (%s)" % (body, e.get("field"), field, e["message"]))
    check(s.post("/v1/recommend", "{\"items\": [", headers={"Content-Type": "application/json"}).status == 400, "malformed JSON")
    check(s.post("/v1/recommend", "{}", headers={"Content-Type": "text/plain"}).status == 415, "content type")
    check(s.get("/v1/recommend").status == 405, "GET")
    r = s.post("/v1/recommend", {"explain": True, "items": [ok] * 1001})
    check(r.status == 413 and r.json()["error"]["field"] == "explain", "explained items past the limit: %d" % r.status)
    recommend(s, {"items": [ok, ok, ok]})
    # a request is counted when its reply has gone out: a scrape right after may come first
    s.wait_for(lambda: 'shelfcast_http_requests_total{route="/v1/recommend",status="200"} 1'
               in s.get("/metrics").body.decode(), 60, "the request counted")
    metrics = s.get("/metrics").body.decode()
    check('shelfcast_recommended_items_total{model="demo",version="1"} 3' in metrics, "recommended items not counted")
    s.stop()
    lines = [json.loads(l) for l in s.output().splitlines() if l.startswith("{") and '"/v1/recommend"' in l]
    check(any(l.get("status") == 200 and l.get("items") == 3 and l.get("model") == "demo" for l in lines),
          "the access log does not count the recommendation: %r" % lines[-3:])


def test_offline_recommend_gives_the_api_numbers(ctx):
    url, s = served_demo(ctx, rows=3000)
    items = new_items(30, seed=47)
    d = temp_dir("sc-rec-")
    path, out = os.path.join(d, "items.csv"), os.path.join(d, "out.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "brand", "category", "weight_kg", "unit_cost", "price_max", "levels", "min_margin"])
        for i, it in enumerate(items):
            ft = it["features"]
            it["price"] = {"min": 1.0, "max": round(ft["price"] * 1.4, 2)}
            it["levels"] = [0, 2] if i % 3 == 0 else [0, 1, 2, 3]
            it["min_margin"] = 0.3 if i % 2 else 0.0
            w.writerow([it["id"], ft["brand"], ft["category"], ft["weight_kg"], it["unit_cost"], it["price"]["max"],
                        "|".join(map(str, it["levels"])), it["min_margin"]])
            del ft["price"]
    r = run(["recommend", "--db", url, "--model", "demo", "--data", path, "--out", out, "--objective", "profit",
             "--alternatives", "2", "--price-min", "1"])
    check(r.returncode == 0, r.stderr)
    offline = list(csv.DictReader(open(out)))
    api = recommend(s, {"objective": "profit", "alternatives": 2, "items": items})["recommendations"]
    rows = {(o["row"] if "row" in o else o["item_id"], o["rank"]): o for o in offline}
    for it, a in zip(items, api):
        for rank, o in enumerate([a] + a.get("alternatives", [])):
            c = rows.get((it["id"], str(rank)))
            check(c is not None, "%s rank %d missing offline" % (it["id"], rank))
            for key in ("price", "promotion_level", "predicted_sales", "expected_sales", "exposure_probability", "expected_profit"):
                check(json.loads(c[key]) == o[key], "%s rank %d %s: offline %s, API %r" % (it["id"], rank, key, c[key], o[key]))
    bad = os.path.join(d, "bad.csv")
    with open(bad, "w") as f:
        f.write("item_id,brand,category,weight_kg,unit_cost\nx,Acme,snacks,0.3,-2\n")
    r = run(["recommend", "--db", url, "--model", "demo", "--data", bad])
    check(r.returncode == 1 and "row 1" in r.stderr and "unit_cost" in r.stderr, r.stderr)


def test_offline_recommend_with_features_named_like_its_option_columns(ctx):
    """A feature the model reads may bear an option column's name (levels, unit_cost): the CSV's column is then
    the feature's, read as the feature, never as the option (a numeric `levels` once crashed the command)."""
    url = ctx.db()
    d = temp_dir("sc-rec-names-")
    data = os.path.join(d, "train.csv")
    rows = list(csv.DictReader(open(demo_csv(2000, seed=11))))
    # weight_kg becomes a numeric feature named levels, category a categorical one named unit_cost
    config = write_json(example_config(3, features={"numeric": ["price", "levels"], "log": ["price"],
                                                    "categorical": ["brand", "unit_cost"]}))
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "price", "levels", "brand", "unit_cost", "promo_level", "units", "featured"])
        for r in rows:
            w.writerow([r["item_id"], r["price"], r["weight_kg"], r["brand"], r["category"], r["promo_level"],
                        r["units"], r["featured"]])
    train(url, data, config=config, extra=["--activate"])
    items = os.path.join(d, "items.csv")
    with open(items, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "price", "levels", "brand", "unit_cost", "price_max"])
        w.writerow(["a", "2.5", "0.4", rows[0]["brand"], rows[0]["category"], "4"])
        w.writerow(["b", "1.5", "3", rows[1]["brand"], rows[1]["category"], "4"])
    for flags in ([], ["--levels", "0|2", "--unit-cost", "0.5", "--objective", "profit"]):
        out = os.path.join(d, "out.csv")
        r = run(["recommend", "--db", url, "--model", "demo", "--data", items, "--out", out] + flags)
        check(r.returncode == 0, "recommend %s: exit %d: %s" % (flags, r.returncode, r.stderr[-2000:]))
        got = list(csv.DictReader(open(out)))
        check([g["item_id"] for g in got] == ["a", "b"] and all(g["feasible"] == "true" for g in got), got)
        if flags:  # the flags' levels and unit cost hold: the CSV's columns of those names are the model's
            check(all(g["promotion_level"] in ("0", "2") for g in got), got)
            for g in got:
                eff = float(g["effective_price"])
                check(abs(float(g["margin"]) - (eff - 0.5) / eff) < 1e-5, "margin %s at %s" % (g["margin"], eff))
