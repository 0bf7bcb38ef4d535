"""Issue 18: "explain": true — per-prediction Shapley values, checked against a brute force and the generator."""
import csv
import json
import math
import os
import subprocess

from harness import check, demo_csv, run, safetensors_metadata, temp_dir, train

# An independent computation: the exported safetensors and spec, the documented encoding, and
# every coalition of features against every reference row, straight from the Shapley formula.
BRUTE_FORCE = r'''
import itertools, json, math, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
spec = json.loads(header["__metadata__"]["spec"])
def tensor(name):
    h = header[name]
    a, b = h["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(h["shape"]).astype(np.float64)
layers = []
while "dense.%d.weight" % len(layers) in header:
    layers.append((tensor("dense.%d.weight" % len(layers)), tensor("dense.%d.bias" % len(layers))))
def net(x):
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if i + 1 < len(layers):
            x = np.maximum(x, 0)
    return x
features, cols = [], []
for f in spec["inputs"]["numeric"]:
    if f["name"] not in features:
        features.append(f["name"])
    cols.append(features.index(f["name"]))
for c in spec["inputs"]["categorical"]:
    features.append(c["name"])
    cols += [len(features) - 1] * (len(c["vocabulary"]) + 1)
features.append("promotion_level")
cols += [len(features) - 1] * len(spec["promotion"]["levels"])
cols = np.array(cols)
levels = [l["level"] for l in spec["promotion"]["levels"]]
def encode(it, level):
    v = []
    for f in spec["inputs"]["numeric"]:
        x = it["features"].get(f["name"])
        if x is not None and f.get("transform") == "log":
            x = math.log(x) if x > 0 else None
        x = f["default"] if x is None else x
        lo, hi = f.get("clip", [-1e300, 1e300])
        v.append((min(max(x, lo), hi) - f["mean"]) / f["std"])
    for c in spec["inputs"]["categorical"]:
        one = [0.0] * (len(c["vocabulary"]) + 1)
        val = it["features"].get(c["name"])
        val = None if val is None else str(val)
        one[c["vocabulary"].index(val) if val in c["vocabulary"] else len(c["vocabulary"])] = 1.0
        v += one
    lv = [0.0] * len(levels)
    lv[levels.index(level)] = 1.0
    return np.array(v + lv, dtype=np.float32).astype(np.float64)
ref = np.array(spec["reference"], dtype=np.float32).astype(np.float64)
M = len(features)
items = json.load(open(sys.argv[2]))
out = []
for it, level in items:
    x = encode(it, level)
    value = {}
    for S in itertools.product([0, 1], repeat=M):
        take = np.array(S, dtype=bool)[cols]
        rows = np.where(take, x, ref)
        value[S] = net(rows).mean(axis=0)
    phi = np.zeros((M, 2))
    for j in range(M):
        for S, v in value.items():
            if S[j]:
                continue
            s = sum(S)
            T = S[:j] + (1,) + S[j + 1:]
            phi[j] += math.factorial(s) * math.factorial(M - s - 1) / math.factorial(M) * (value[T] - v)
    base = value[(0,) * M]
    std, mean = spec["target"]["std"], spec["target"]["mean"]
    out.append({"sales_baseline": base[0] * std + mean, "exposure_baseline": base[1],
                "sales": {features[j]: phi[j, 0] * std for j in range(M)},
                "exposure": {features[j]: phi[j, 1] for j in range(M)}})
json.dump({"features": features, "explanations": out}, sys.stdout)
'''


def demo_items(path, n, with_levels=True):
    """The first n rows of a demo CSV as API items (every other one at its own level)."""
    items = []
    with open(path) as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i == n:
                break
            it = {"id": row["item_id"], "features": {"brand": row["brand"], "category": row["category"],
                                                     "price": float(row["price"]), "weight_kg": float(row["weight_kg"])}}
            if with_levels and i % 2:
                it["promotion_level"] = int(row["promo_level"])
            items.append(it)
    return items


def served(ctx, *args):
    url = ctx.db()
    data = demo_csv(3000)
    train(url, data, extra=["--activate"])
    return url, data, ctx.serve(db_url=url, wait_ready=True, args=args)


def check_complete(p):
    """baseline + contributions is the reported prediction on the network's scale, within 1e-4."""
    x = p["explanation"]
    s = x["sales_baseline"] + sum(c["sales"] for c in x["contributions"])
    e = x["exposure_baseline"] + sum(c["exposure"] for c in x["contributions"])
    units, prob = p["predicted_sales"], p["exposure_probability"]
    if units > 0:  # 7 significant digits of units: log1p is good to ~1e-7
        check(abs(math.log1p(units) - s) <= 1e-4, "sales: %r + contributions = %r, log1p(units) %r" % (x["sales_baseline"], s, math.log1p(units)))
    else:
        check(s <= 1e-4, "sales %r for 0 units" % s)
    if 1e-3 < prob < 1 - 1e-3:
        check(abs(math.log(prob / (1 - prob)) - e) <= 1e-4, "exposure: %r vs logit %r" % (e, math.log(prob / (1 - prob))))
    else:
        check(abs(1 / (1 + math.exp(-e)) - prob) <= 1e-6, "exposure: %r vs %r" % (e, prob))
    mags = [abs(c["sales"]) for c in x["contributions"]]
    check(mags == sorted(mags, reverse=True), "not sorted by |sales|: %r" % mags)


def test_explanations_are_complete_and_agree_with_a_brute_force_computation(ctx):
    url, data, s = served(ctx)
    items = demo_items(data, 1000)
    r = s.predict({"items": items, "explain": True})
    check(r.status == 200, "%d %r" % (r.status, r.body[:300]))
    preds = r.json()["predictions"]
    for p in preds:
        check_complete(p)
        check([c["feature"] for c in p["explanation"]["contributions"]].count("promotion_level") == 1, p)
    check(sorted(c["feature"] for c in preds[0]["explanation"]["contributions"]) ==
          ["brand", "category", "price", "promotion_level", "weight_kg"], preds[0]["explanation"])
    # the same request without explain gives the same numbers (the same request: a batch of
    # another size may take other BLAS kernels, which round differently in the last digit)
    plain = s.predict({"items": items}).json()["predictions"]
    for a, b in zip(plain, preds):
        check("explanation" not in a and a["predicted_sales"] == b["predicted_sales"], (a, b))
    # an independent brute force over the exported weights and reference rows
    d = temp_dir("sc-explain-")
    st = os.path.join(d, "demo.safetensors")
    e = run(["models", "export", "demo", "1", "--out", st, "--db", url])
    check(e.returncode == 0, e.stderr)
    some = [(it, p["promotion_level"]) for it, p in zip(items[:24], preds[:24])]
    json.dump(some, open(os.path.join(d, "items.json"), "w"))
    b = subprocess.run(["/usr/bin/python3", "-c", BRUTE_FORCE, st, os.path.join(d, "items.json")],
                       capture_output=True, text=True, timeout=600)
    check(b.returncode == 0, b.stderr[-2000:])
    brute = json.loads(b.stdout)["explanations"]
    check(len(preds) >= 24 and len(brute) == 24, "%d served, %d brute-force explanations" % (len(preds), len(brute)))
    features = sorted(c["feature"] for c in preds[0]["explanation"]["contributions"])
    for want in brute:
        check(sorted(want["sales"]) == features and sorted(want["exposure"]) == features
              and "sales_baseline" in want and "exposure_baseline" in want, "brute force gives %r" % want)
    worst = 0.0
    for p, want in zip(preds[:24], brute):
        x = p["explanation"]
        worst = max(worst, abs(x["sales_baseline"] - want["sales_baseline"]), abs(x["exposure_baseline"] - want["exposure_baseline"]))
        for c in x["contributions"]:
            worst = max(worst, abs(c["sales"] - want["sales"][c["feature"]]), abs(c["exposure"] - want["exposure"][c["feature"]]))
    print("# brute force: largest difference %.2g over 24 items" % worst)
    check(worst <= 1e-4, "served and brute-force Shapley values differ by %g" % worst)


def test_explanations_follow_the_generator_on_the_demo_catalog(ctx):
    url, data, s = served(ctx)
    items = demo_items(data, 1000, with_levels=False)
    preds = s.predict({"items": items, "explain": True}).json()["predictions"]
    mean = {}
    for p in preds:
        for c in p["explanation"]["contributions"]:
            mean[c["feature"]] = mean.get(c["feature"], 0.0) + abs(c["sales"]) / len(preds)
    print("# mean |sales contribution| over 1000 items: " + ", ".join("%s %.3f" % kv for kv in sorted(mean.items(), key=lambda kv: -kv[1])))
    check(mean["price"] > mean["weight_kg"] and mean["category"] > mean["weight_kg"], mean)
    # the generator: log units fall by the category's elasticity (1.2 to 2.2) per unit of log price,
    # so moving from the reference rows' prices to the item's has the sign -(log p - mean log p_ref)
    d = temp_dir("sc-explain-")
    st = os.path.join(d, "demo.safetensors")
    check(run(["models", "export", "demo", "1", "--out", st, "--db", url]).returncode == 0, "export")
    spec = json.loads(safetensors_metadata(st)["spec"])
    f = [i for i, n in enumerate(spec["inputs"]["numeric"]) if n["name"] == "price"][0]
    p_in = spec["inputs"]["numeric"][f]
    ref_log = [math.log(max(r[f] * p_in["std"] + p_in["mean"], 1e-6)) for r in spec["reference"]]
    mean_ref = sum(ref_log) / len(ref_log)
    agree = 0
    for it, p in zip(items, preds):
        c = [c for c in p["explanation"]["contributions"] if c["feature"] == "price"][0]
        truth = -(math.log(it["features"]["price"]) - mean_ref)
        agree += (c["sales"] > 0) == (truth > 0)
    print("# price contribution has the generator's sign for %d of 1000 items" % agree)
    check(agree >= 950, "only %d of 1000" % agree)


def test_explain_limits_and_bad_values(ctx):
    _, data, s = served(ctx, "--max-explain-items", "10")
    items = demo_items(data, 11)
    r = s.predict({"items": items, "explain": True})
    check(r.status == 413 and r.json()["error"]["field"] == "explain", "%d %r" % (r.status, r.body))
    check(s.predict({"items": items[:10], "explain": True}).status == 200, "10 explained items")
    check(s.predict({"items": items, "explain": False}).status == 200, "11 unexplained items")
    check("explanation" not in s.predict({"items": items[:1], "explain": None}).json()["predictions"][0],
          "null is absent, as for every optional field")
    for bad in (1, "true", [True], {"a": 1}):
        r = s.predict({"items": items[:1], "explain": bad})
        check(r.status == 422 and r.json()["error"]["field"] == "explain", "%r: %d %r" % (bad, r.status, r.body))


def test_offline_predict_explain_writes_a_column_per_feature_and_output(ctx):
    url, data, s = served(ctx)
    out = os.path.join(temp_dir("sc-explain-"), "out.csv")
    r = run(["predict", "--model", "demo", "--data", data, "--out", out, "--explain", "--db", url])
    check(r.returncode == 0, r.stderr)
    rows = list(csv.DictReader(open(out)))
    feats = ["price", "weight_kg", "brand", "category", "promotion_level"]
    want = ["item_id", "promotion_level", "predicted_sales", "exposure_probability", "recommended_promotion_level",
            "sales_baseline", "exposure_baseline"] + [k + "_" + f for f in feats for k in ("sales", "exposure")]
    check(list(rows[0].keys()) == want, list(rows[0].keys()))
    # the same numbers as the API for the same rows (the CSV rows carry their own level)
    items = demo_items(data, 20)
    for it in items:
        it.pop("promotion_level", None)
    levels = [int(row["promo_level"]) for row in csv.DictReader(open(data))][:20]
    for it, lv in zip(items, levels):
        it["promotion_level"] = lv
    api = s.predict({"items": items, "explain": True}).json()["predictions"]
    for row, p in zip(rows, api):
        x = p["explanation"]
        check(float(row["sales_baseline"]) == x["sales_baseline"], (row, x))
        for c in x["contributions"]:
            check(float(row["sales_" + c["feature"]]) == c["sales"] and float(row["exposure_" + c["feature"]]) == c["exposure"], (row, c))
    r = run(["predict", "--model", "demo", "--data", data, "--explain", "--bogus", "--db", url])
    check(r.returncode == 2, "unknown flag: %d" % r.returncode)
