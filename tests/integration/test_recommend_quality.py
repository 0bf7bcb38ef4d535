"""Issue 16, must-hold 4: price x promotion level recommendations against the demo catalog's known truth.

The demo catalog (`shelfcast demo-data`, include/shelfcast/demo.h) has a constant
price elasticity e per category, so `--truth` gives each item's expected units at
any price q and level L as scale_L * q^-e, and its profit as

    profit(q, L) = scale_L q^-e (q (1 - d_L) - c) - cost_L

(d_L, cost_L: the level's discount and fixed cost in examples/demo/dataset.json;
c: the item's unit cost).  For e > 1 it is unimodal in q, with its maximum at
q (1 - d_L) = c e / (e - 1): the true optimum over a price range is that price
clamped to the range, at the best level.
"""
import csv
import json
import os

from harness import check, demo_csv, example, run, temp_dir, train

BOUND = 0.30          # price bounds: the reference price +-30 %
TRAIN_ROWS, TRAIN_SEED = 20000, 7
NEW_ITEMS, NEW_SEED = 1000, 99
BATCH = 250


def demo_levels():
    """[(discount, fixed cost)] by level index, from the demo config."""
    cfg = json.load(open(example("demo", "dataset.json")))
    return [(lv["discount"], lv.get("cost", 0.0)) for lv in cfg["promotion"]["levels"]]


def read_truth(path):
    """Per item id: the closed-form demand of `demo-data --truth`."""
    out = {}
    for r in csv.DictReader(open(path)):
        out[r["item_id"]] = {"ref": float(r["reference_price"]), "c": float(r["unit_cost"]),
                             "e": float(r["elasticity"]), "scale": [float(r["scale_%d" % k]) for k in range(4)],
                             "units": [float(r["units_%d" % k]) for k in range(4)]}
    return out


def true_profit(t, levels, price, level):
    d, cost = levels[level]
    return t["scale"][level] * price ** -t["e"] * (price * (1 - d) - t["c"]) - cost


def true_best_price(t, levels, level, lo, hi):
    """The profit-maximizing price at `level` inside [lo, hi] (unimodal for e > 1)."""
    e = t["e"]
    return min(max(t["c"] * e / ((e - 1) * (1 - levels[level][0])), lo), hi)


def true_optimum(t, levels):
    """(profit, price, level): the best over price in ref +-BOUND and every level."""
    lo, hi = (1 - BOUND) * t["ref"], (1 + BOUND) * t["ref"]
    return max((true_profit(t, levels, p, k), p, k)
               for k, p in ((k, true_best_price(t, levels, k, lo, hi)) for k in range(len(levels))))


def true_baseline(t, levels):
    """(profit, level): the best level at the reference price."""
    return max((true_profit(t, levels, t["ref"], k), k) for k in range(len(levels)))


def new_items(d):
    """NEW_ITEMS items of another seed than the training rows: (rows, truth)."""
    data, truth = os.path.join(d, "new.csv"), os.path.join(d, "truth.csv")
    r = run(["demo-data", "--rows", str(NEW_ITEMS), "--seed", str(NEW_SEED), "--out", data, "--truth", truth])
    check(r.returncode == 0, r.stderr)
    return list(csv.DictReader(open(data))), read_truth(truth)


def test_demo_truth_gives_profit_at_any_price(ctx):
    """The truth's closed form matches its per-level columns; its optimum is a grid search's; the catalog is not trivial."""
    levels = demo_levels()
    rows, truth = new_items(temp_dir("sc-demo-truth-"))
    opt_sum = base_sum = 0.0
    interior = at_bound = 0
    for r in rows:
        t = truth[r["item_id"]]
        check(float(r["unit_cost"]) == t["c"], r)
        check(t["e"] > 1 and 0 < t["c"] < t["ref"], t)
        p = float(r["price"])
        for k in range(len(levels)):
            u = t["scale"][k] * p ** -t["e"]
            check(abs(u - t["units"][k]) <= 1e-5 * t["units"][k], "%s level %d: %r vs %r" % (r["item_id"], k, u, t["units"][k]))
        opt, price, _ = true_optimum(t, levels)
        lo, hi = (1 - BOUND) * t["ref"], (1 + BOUND) * t["ref"]
        grid = max(true_profit(t, levels, lo + (hi - lo) * i / 2000, k) for k in range(len(levels)) for i in range(2001))
        check(opt >= grid - 1e-9 * abs(grid) and opt - grid <= 1e-4 * abs(opt), "%s: optimum %r, grid %r" % (r["item_id"], opt, grid))
        if lo < price < hi:
            interior += 1
        else:
            at_bound += 1
        opt_sum += opt
        base_sum += true_baseline(t, levels)[0]
    loss = (opt_sum - base_sum) / opt_sum
    print("# %d new items: optimum interior for %d, at a +-30%% bound for %d; the best level at the reference price loses %.2f%%"
          % (len(rows), interior, at_bound, 100 * loss))
    check(interior >= len(rows) // 4 and at_bound >= len(rows) // 4, (interior, at_bound))
    check(0.05 <= loss <= 0.12, "the baseline loses %.2f%%: the catalog no longer tells a good search from none" % (100 * loss))


def recommend_request(rows, truth):
    """The /v1/recommend body for rows: features at the reference price, bounds +-30 %, every level."""
    return {"model": "demo", "objective": "profit", "alternatives": 0,
            "items": [{"id": r["item_id"],
                       "features": {"brand": r["brand"], "category": r["category"],
                                    "weight_kg": float(r["weight_kg"]), "price": truth[r["item_id"]]["ref"]},
                       "unit_cost": float(r["unit_cost"]),
                       "price": {"min": round((1 - BOUND) * truth[r["item_id"]]["ref"], 4),
                                 "max": round((1 + BOUND) * truth[r["item_id"]]["ref"], 4)},
                       "levels": [0, 1, 2, 3]} for r in rows]}


class Tally:
    """True profit summed per category: the optimum, the chosen (price, level), the baseline."""

    def __init__(self, levels):
        self.levels = levels
        self.rows = {}
        self.same_level = 0

    def add(self, category, t, price, level):
        opt, _, opt_level = true_optimum(t, self.levels)
        for key in (category, "all"):
            c = self.rows.setdefault(key, {"n": 0, "optimum": 0.0, "chosen": 0.0, "baseline": 0.0})
            c["n"] += 1
            c["optimum"] += opt
            c["chosen"] += true_profit(t, self.levels, price, level)
            c["baseline"] += true_baseline(t, self.levels)[0]
        self.same_level += level == opt_level

    def loss(self, of, key="all"):
        c = self.rows[key]
        return 100 * (c["optimum"] - c[of]) / c["optimum"]

    def print(self, chosen_by):
        print("# | category | items | true optimum | %s | baseline | %s loses | baseline loses |" % (chosen_by, chosen_by))
        print("# |---|---:|---:|---:|---:|---:|---:|")
        for key in sorted(k for k in self.rows if k != "all") + ["all"]:
            c = self.rows[key]
            print("# | %s | %d | %.0f | %.0f | %.0f | %.2f %% | %.2f %% |"
                  % (key, c["n"], c["optimum"], c["chosen"], c["baseline"], self.loss("chosen", key), self.loss("baseline", key)))
        print("# the true optimum's level chosen for %d of %d items" % (self.same_level, self.rows["all"]["n"]))


def trained_demo(ctx, d):
    """A registry with the demo model (log price too) trained on TRAIN_ROWS rows, and a server on it."""
    url = ctx.db()
    train(url, demo_csv(TRAIN_ROWS, seed=TRAIN_SEED), extra=["--activate"])
    return ctx.serve(db_url=url, wait_ready=True)


def test_a_price_grid_over_the_model_earns_nearly_the_true_optimum_profit(ctx):
    """What any search over the model can reach: the best of 61 prices x 4 levels by /v1/predict's expected_sales."""
    levels = demo_levels()
    d = temp_dir("sc-grid-")
    s = trained_demo(ctx, d)
    rows, truth = new_items(d)
    steps = 60
    tally = Tally(levels)
    per = 10000 // (steps + 1)
    for i in range(0, len(rows), per):
        items = []
        for it in recommend_request(rows[i:i + per], truth)["items"]:
            lo, hi = it["price"]["min"], it["price"]["max"]
            items += [{"features": dict(it["features"], price=lo + (hi - lo) * j / steps)} for j in range(steps + 1)]
        r = s.predict({"model": "demo", "include_levels": True, "items": items})
        check(r.status == 200, "%d %r" % (r.status, r.body[:500]))
        preds = r.json()["predictions"]
        for n, row in enumerate(rows[i:i + per]):
            t = truth[row["item_id"]]
            best = None
            for item, p in zip(items[n * (steps + 1):(n + 1) * (steps + 1)], preds[n * (steps + 1):(n + 1) * (steps + 1)]):
                q = item["features"]["price"]
                for k, lv in enumerate(p["levels"]):
                    v = lv["expected_sales"] * (q * (1 - levels[k][0]) - t["c"]) - levels[k][1]
                    if best is None or v > best[0]:
                        best = (v, q, k)
            tally.add(row["category"], t, best[1], best[2])
    s.stop()
    print("# %d new items (demo-data seed %d), model trained on %d rows (seed %d), best of %d prices x %d levels:"
          % (len(rows), NEW_SEED, TRAIN_ROWS, TRAIN_SEED, steps + 1, len(levels)))
    tally.print("grid")
    check(tally.loss("chosen") <= 2.0, "a grid over the model loses %.2f%% of the true optimum's profit" % tally.loss("chosen"))


def test_recommendations_earn_nearly_the_true_optimum_profit(ctx):
    """POST /v1/recommend on 1,000 new items loses <= 2 % of the true optimum's profit (aggregate)."""
    levels = demo_levels()
    d = temp_dir("sc-recommend-")
    s = trained_demo(ctx, d)
    rows, truth = new_items(d)
    tally = Tally(levels)
    at_bound = 0
    for i in range(0, len(rows), BATCH):
        body = recommend_request(rows[i:i + BATCH], truth)
        r = s.post("/v1/recommend", body)
        check(r.status == 200, "%d %r" % (r.status, r.body[:500]))
        reply = r.json()
        check(reply["model"]["name"] == "demo", reply["model"])
        recs = reply["recommendations"]
        check([x["id"] for x in recs] == [x["id"] for x in body["items"]], "ids out of order")
        for rec, item, row in zip(recs, body["items"], rows[i:i + BATCH]):
            t = truth[rec["id"]]
            check(rec["feasible"] is True, rec)
            price, level = rec["price"], rec["promotion_level"]
            lo, hi = item["price"]["min"], item["price"]["max"]
            check(lo * (1 - 1e-9) <= price <= hi * (1 + 1e-9), "%s: price %r outside [%r, %r]" % (rec["id"], price, lo, hi))
            check(level in item["levels"], rec)
            d_l, cost = levels[level]
            check(abs(rec["effective_price"] - price * (1 - d_l)) <= 1e-4 * price, rec)
            want = rec["expected_sales"] * (rec["effective_price"] - t["c"]) - cost
            check(abs(rec["expected_profit"] - want) <= 1e-3 * (1 + abs(want)), "%s: expected_profit %r, expected_sales x "
                  "(effective_price - unit_cost) - cost = %r" % (rec["id"], rec["expected_profit"], want))
            tally.add(row["category"], t, price, level)
            at_bound += rec["at_price_bound"]
    s.stop()
    print("# %d new items (demo-data seed %d), model trained on %d rows (seed %d), POST /v1/recommend:"
          % (len(rows), NEW_SEED, TRAIN_ROWS, TRAIN_SEED))
    tally.print("recommended")
    print("# %d recommended prices at a bound of their range" % at_bound)
    check(tally.loss("chosen") <= 2.0, "recommendations lose %.2f%% of the true optimum's profit" % tally.loss("chosen"))
    check(tally.loss("baseline") >= 5.0, "the baseline loses only %.2f%%" % tally.loss("baseline"))
