"""Issue 15: the served model is never worse than its baselines, its intervals are calibrated."""
import csv
import json
import math
import os

from harness import check, demo_csv, example, temp_dir, train


def demo_config(d, **model):
    """The demo config with only documented model keys changed."""
    cfg = json.load(open(example("demo", "dataset.json")))
    cfg["model"].update(model)
    path = os.path.join(d, "dataset.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def test_default_model_is_no_worse_than_its_baselines(ctx):
    d = temp_dir("sc-trust-")
    # two data sets the suite makes, two networks: documented keys only
    for rows, seed, model in ((3000, 5, {"seed": 3}), (2000, 11, {"hidden": [16], "epochs": 30, "seed": 8, "members": 3})):
        url = ctx.db()
        m = json.loads(train(url, demo_csv(rows, seed=seed), config=demo_config(d, **model)).stdout)
        lin, log = m["baselines"]["linear"]["r2_log"], m["baselines"]["logistic"]["auc"]
        print("# %d rows, seed %d: r2_log %.4f (linear %.4f), auc %.4f (logistic %.4f), coverage %.3f, width %.3f"
              % (rows, seed, m["sales"]["r2_log"], lin, m["exposure"]["auc"], log, m["interval_coverage"],
                 m["interval_mean_width_log"]))
        check(m["sales"]["r2_log"] >= lin - 0.005, "r2_log %r below the linear baseline's %r" % (m["sales"]["r2_log"], lin))
        check(m["exposure"]["auc"] >= log - 0.005, "auc %r below the logistic baseline's %r" % (m["exposure"]["auc"], log))
        check(0.8 <= m["interval_coverage"] <= 0.97, "coverage %r" % m["interval_coverage"])
        check(m["interval_mean_width_log"] > 0, m)
        check(m["training"]["ensemble"]["members"] == model.get("members", 1), m["training"]["ensemble"])


def test_intervals_cover_new_items_at_the_asked_rate(ctx):
    url = ctx.db()
    train(url, demo_csv(4000, seed=7), extra=["--activate"])
    rows = list(csv.DictReader(open(demo_csv(1500, seed=31))))
    s = ctx.serve(db_url=url, wait_ready=True)
    items = [{"id": r["item_id"], "promotion_level": int(r["promo_level"]),
              "features": {"brand": r["brand"], "category": r["category"], "price": float(r["price"]),
                           "weight_kg": float(r["weight_kg"])}} for r in rows]
    widths = {}
    for coverage in (0.9, 0.5):
        inside, width = 0, 0.0
        for i in range(0, len(items), 500):
            reply = s.predict({"interval": coverage, "include_levels": True, "items": items[i:i + 500]}).json()
            for p, r in zip(reply["predictions"], rows[i:i + 500]):
                iv = p["predicted_sales_interval"]
                check(iv["coverage"] == coverage and iv["lower"] <= p["predicted_sales"] <= iv["upper"], p)
                check(all("predicted_sales_interval" in lv and "expected_sales" in lv for lv in p["levels"]), p)
                check(p["expected_sales"] >= p["predicted_sales"], "the mean of a log1p target is above its median")
                inside += iv["lower"] <= float(r["units"]) <= iv["upper"]
                width += math.log1p(iv["upper"]) - math.log1p(iv["lower"])
        share = inside / len(items)
        widths[coverage] = width / len(items)
        print("# interval %.2f: covers %.3f of %d new items, mean width %.3f (log1p)" % (coverage, share, len(items), widths[coverage]))
        check(abs(share - coverage) <= 0.06, "interval %r covers %r" % (coverage, share))
    check(widths[0.5] < widths[0.9], widths)
    # the default is the model's 0.9
    p = s.predict({"items": items[:1]}).json()["predictions"][0]
    check(p["predicted_sales_interval"]["coverage"] == 0.9, p)
    for bad in (0, 1, 1.5, -0.1, "0.9", True, [0.9]):
        r = s.predict({"interval": bad, "items": items[:1]})
        check(r.status == 422 and r.json()["error"]["field"] == "interval", "interval %r: %d %r" % (bad, r.status, r.body[:200]))
    s.stop()


def test_intervals_by_category_cover_each_category(ctx):
    """model.interval_by: a conformal table per category (Mondrian), so each category's coverage holds on its own."""
    d = temp_dir("sc-mondrian-")
    rows = list(csv.DictReader(open(demo_csv(4000, seed=33))))
    items = [{"promotion_level": int(r["promo_level"]),
              "features": {"brand": r["brand"], "category": r["category"], "price": float(r["price"]),
                           "weight_kg": float(r["weight_kg"])}} for r in rows]
    data = demo_csv(8000, seed=7)
    share = {}
    for by in (None, "category"):
        url = ctx.db()
        m = json.loads(train(url, data, config=demo_config(d, **({"interval_by": by} if by else {})),
                             extra=["--activate"]).stdout)
        s = ctx.serve(db_url=url, wait_ready=True)
        inside, count = {}, {}
        for i in range(0, len(items), 1000):
            for p, r in zip(s.predict({"items": items[i:i + 1000]}).json()["predictions"], rows[i:i + 1000]):
                iv, c = p["predicted_sales_interval"], r["category"]
                count[c] = count.get(c, 0) + 1
                inside[c] = inside.get(c, 0) + (iv["lower"] <= float(r["units"]) <= iv["upper"])
        share[by] = {c: inside[c] / count[c] for c in count}
        print("# 0.9 intervals by %s: test coverage %.3f; on %d new items, per category %s" % (
            by or "one table", m["interval_coverage"], len(items),
            ", ".join("%s %.3f" % (c, v) for c, v in sorted(share[by].items()))))
        s.stop()
    for c, v in share["category"].items():
        check(0.82 <= v <= 0.97, "category %s: a 0.9 interval covers %.3f" % (c, v))
    spread = lambda by: max(share[by].values()) - min(share[by].values())
    check(spread("category") < spread(None), "per category, the coverage spreads %.3f (one table: %.3f)"
          % (spread("category"), spread(None)))
    bad = demo_config(d, interval_by="price")
    r = train(ctx.db(), data, config=bad, check_ok=False)
    check(r.returncode != 0 and "model.interval_by" in r.stderr, r.stderr[-300:])


def test_the_mean_loses_less_revenue_than_the_median(ctx):
    """Known truth: recommending by expected_sales (the mean) against by predicted_sales (the median)."""
    url = ctx.db()
    d = temp_dir("sc-mean-")
    train(url, demo_csv(10000, seed=7), extra=["--activate"])
    hold, truth = os.path.join(d, "holdout.csv"), os.path.join(d, "truth.csv")
    from harness import run
    r = run(["demo-data", "--rows", "2000", "--seed", "99", "--out", hold, "--truth", truth])
    check(r.returncode == 0, r.stderr)
    t = {row["item_id"]: row for row in csv.DictReader(open(truth))}
    rows = list(csv.DictReader(open(hold)))
    cfg = json.load(open(example("demo", "dataset.json")))
    levels = cfg["promotion"]["levels"]
    s = ctx.serve(db_url=url, wait_ready=True)
    loss = {"mean": [], "median": []}
    for i in range(0, len(rows), 500):
        items = [{"id": r["item_id"], "features": {"brand": r["brand"], "category": r["category"],
                                                   "price": float(r["price"]), "weight_kg": float(r["weight_kg"])}}
                 for r in rows[i:i + 500]]
        for p, r in zip(s.predict({"include_levels": True, "items": items}).json()["predictions"], rows[i:i + 500]):
            rev = [float(t[r["item_id"]]["revenue_%d" % k]) for k in range(4)]
            best = max(rev)
            # the median's choice: the same objective on predicted_sales
            median = [lv["predicted_sales"] * float(r["price"]) * (1 - levels[k]["discount"]) - levels[k]["cost"]
                      for k, lv in enumerate(p["levels"])]
            for k, lv in enumerate(p["levels"]):
                check(abs(lv["expected_revenue"] - (lv["expected_sales"] * float(r["price"]) * (1 - levels[k]["discount"])
                                                    - levels[k]["cost"])) <= 1e-4 * (1 + abs(lv["expected_revenue"])), lv)
            chosen = {"mean": p["recommended_promotion_level"], "median": max(range(4), key=lambda k: (median[k], -k))}
            for how, k in chosen.items():
                loss[how].append((best - rev[k]) / best if best > 0 else 0.0)
    s.stop()
    mean = {how: sum(v) / len(v) for how, v in loss.items()}
    print("# revenue lost against the truly best level over %d new items: by expected_sales %.2f%%, by predicted_sales %.2f%%"
          % (len(rows), 100 * mean["mean"], 100 * mean["median"]))
    check(mean["mean"] <= 0.03, mean)
    # this catalog's noise is small (a lognormal of sd 0.2 on every item alike), so the two choices differ on few
    # items and either may come out ahead by a few hundredths of a point: the mean must not lose more than 0.1 point
    check(mean["mean"] <= mean["median"] + 0.001, "the mean's choices lose more than the median's: %r" % mean)
