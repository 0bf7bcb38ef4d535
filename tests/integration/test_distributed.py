"""Issue 22: training past one machine — dataset export, PyTorch DDP (torchrun, gloo on CPU),
import, and one measure of quality (models evaluate) through the serving code."""
import csv
import json
import os
import shutil
import struct
import subprocess

from harness import (BINARY, SANITIZED, SOURCE_ROOT, Skip, check, dbname, demo_csv, example, free_port, run,
                     safetensors_metadata, temp_dir, train)

PYTHON = "/usr/bin/python3"
SCRIPT = os.path.join(SOURCE_ROOT, "examples", "pytorch", "train_ddp.py")


def export(data, out, config=None, extra=()):
    return run(["dataset", "export", "--data", data, "--config", config or example("demo", "dataset.json"),
                "--out", out] + list(extra))


def torch_available():
    p = subprocess.run([PYTHON, "-c", "import torch, numpy, torch.distributed as d; print(d.is_gloo_available())"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip("python3-torch is not installed: %s" % p.stderr.strip().splitlines()[-1:])
    if p.stdout.strip() != "True":
        raise Skip("this torch has no gloo backend")


def torchrun(ranks, directory, out, predictions, metrics, log_dir):
    """torchrun over gloo on the loopback interface; the launcher flags Debian's torch 1.13 needs on Python 3.11."""
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    argv = [PYTHON, "-m", "torch.distributed.run", "--nproc_per_node=%d" % ranks, "--master_addr=127.0.0.1",
            "--master_port=%d" % free_port(), "--redirects", "2", "--tee", "2", "--log_dir", log_dir,
            SCRIPT, directory, "--out", out, "--predictions", predictions, "--metrics", metrics]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)


def close_metrics(a, b, tol, what):
    """Each metric of b in a, within tol times the metric, or tol itself for a metric under 1 (AUC, rates)."""
    for block in ("sales", "exposure"):
        for k, v in b[block].items():
            check(abs(a[block][k] - v) <= tol * max(1.0, abs(v)), "%s: %s.%s %r vs %r" % (what, block, k, a[block][k], v))


def test_torchrun_two_ranks_train_on_shards_import_and_serve_what_pytorch_predicts(ctx):
    torch_available()
    url = ctx.db()
    data = demo_csv(3000)
    d = temp_dir("sc-ddp-")
    shards = os.path.join(d, "shards")
    r = export(data, shards, extra=["--shard-rows", "400"])
    check(r.returncode == 0, "export failed: " + r.stderr[-2000:])
    summary = json.loads(r.stdout)
    manifest = json.load(open(os.path.join(shards, "manifest.json")))
    check(summary["rows"] == manifest["parts"] and sum(summary["rows"].values()) == 3000, summary)
    train_shards = [s for s in manifest["shards"] if s["part"] == "train"]
    check(len(train_shards) >= 4 and all(s["rows"] <= 400 for s in manifest["shards"]), manifest["shards"])

    out, preds, mpath = (os.path.join(d, n) for n in ("ddp.safetensors", "preds.csv", "metrics.json"))
    p = torchrun(2, shards, out, preds, mpath, os.path.join(d, "logs"))
    check(p.returncode == 0, "torchrun failed (%d): %s %s" % (p.returncode, p.stdout[-1500:], p.stderr[-3000:]))
    check("2 ranks" in p.stderr, "not two ranks: " + p.stderr[-800:])
    # each rank reads its own shards: between them all of them, none twice
    read = {}
    for line in (p.stdout + p.stderr).splitlines():
        if "train_ddp: rank " in line and " reads " in line:
            words = line.split("train_ddp: rank ", 1)[1].split()
            read[int(words[0])] = words[-1].split(",")
    check(sorted(read) == [0, 1], "ranks that reported their shards: %r" % read)
    check(sorted(read[0] + read[1]) == sorted(s["file"] for s in manifest["shards"])
          and not set(read[0]) & set(read[1]), "shards by rank: %r" % read)
    torch_metrics = json.load(open(mpath))
    check(torch_metrics["trainer"]["world_size"] == 2 and torch_metrics["test_rows"] == manifest["parts"]["test"],
          torch_metrics)
    check(json.loads(safetensors_metadata(out)["metrics"]) == torch_metrics, "metadata metrics differ from --metrics")

    # registered with PyTorch's metrics
    r = run(["models", "import", "ddp", "--weights", out, "--spec", os.path.join(shards, "spec.json"),
             "--activate", "--db", url])
    check(r.returncode == 0, r.stderr)
    stored = json.loads(ctx.pg.query(dbname(url), "SELECT metrics::text FROM shelfcast.model_versions "
                                                  "WHERE model = 'ddp' AND version = 1"))
    close_metrics(stored, torch_metrics, 0, "stored on import")

    # one source of truth: the serving code's evaluation equals PyTorch's own
    r = run(["models", "evaluate", "ddp", "1", "--data", shards, "--db", url])
    check(r.returncode == 0, r.stderr)
    ours = json.loads(r.stdout)
    check(ours["test_rows"] == torch_metrics["test_rows"], ours)
    close_metrics(ours, torch_metrics, 1e-5, "models evaluate vs PyTorch")
    stored = json.loads(ctx.pg.query(dbname(url), "SELECT metrics::text FROM shelfcast.model_versions "
                                                  "WHERE model = 'ddp' AND version = 1"))
    check(stored["evaluated_on"]["test_rows"] == ours["test_rows"] and "trainer" in stored, stored)
    check(ctx.pg.query(dbname(url), "SELECT count(*) FROM shelfcast.model_events WHERE model = 'ddp' "
                                    "AND event = 'evaluated'") == "1", "no evaluated event")

    # the API's predictions for the test rows equal PyTorch's
    rows = list(csv.DictReader(open(data)))
    by_line = {i + 2: row for i, row in enumerate(rows)}  # the header is line 1, no field spans lines
    want = list(csv.DictReader(open(preds)))
    check(len(want) == manifest["parts"]["test"], "predictions: %d rows" % len(want))
    levels = [lv["level"] for lv in json.load(open(os.path.join(shards, "spec.json")))["promotion"]["levels"]]
    s = ctx.serve(db_url=url, wait_ready=True)
    worst = 0.0
    for i in range(0, len(want), 100):
        batch = want[i:i + 100]
        items = []
        for w in batch:
            row = by_line[int(w["line"])]
            items.append({"features": {"brand": row["brand"], "category": row["category"],
                                       "price": float(row["price"]), "weight_kg": float(row["weight_kg"])}})
        reply = s.predict({"model": "ddp", "include_levels": True, "items": items}).json()
        for w, pred in zip(batch, reply["predictions"]):
            row = by_line[int(w["line"])]
            lv = pred["levels"][levels.index(int(row["promo_level"]))]
            units = max(0.0, __import__("math").expm1(float(w["sales"])))
            worst = max(worst, abs(lv["predicted_sales"] - units) / max(1.0, units))
            check(abs(lv["predicted_sales"] - units) <= 1e-5 * max(1.0, units),
                  "line %s: sales %r vs PyTorch %r" % (w["line"], lv["predicted_sales"], units))
            check(abs(lv["exposure_probability"] - float(w["exposure_probability"])) <= 1e-5,
                  "line %s: exposure %r vs PyTorch %r" % (w["line"], lv["exposure_probability"],
                                                         w["exposure_probability"]))
    print("# %d test rows: the API within %.2g (relative) of PyTorch" % (len(want), worst))
    s.stop()


def test_evaluate_of_a_train_version_on_the_export_equals_train_own_metrics(ctx):
    url = ctx.db()
    data = demo_csv(2000)
    d = temp_dir("sc-ddp-")
    r = train(url, data)
    trained = json.loads(r.stdout)
    r = export(data, os.path.join(d, "x"))
    check(r.returncode == 0, r.stderr)
    r = run(["models", "evaluate", "demo", "1", "--data", os.path.join(d, "x"), "--db", url])
    check(r.returncode == 0, r.stderr)
    ours = json.loads(r.stdout)
    # the same test rows, re-encoded from their raw features by the version's own encoder
    close_metrics(ours, {"sales": trained["sales"], "exposure": trained["exposure"]}, 1e-6, "evaluate vs train")
    stored = json.loads(ctx.pg.query(dbname(url), "SELECT metrics::text FROM shelfcast.model_versions WHERE version = 1"))
    check("baselines" in stored and stored["evaluated_on"]["test_rows"] == trained["test_rows"], stored)


# The export's own peak: a one-off parent whose only child it is prints its RUSAGE_CHILDREN peak (kB) last.
PEAK_OF_CHILD = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def test_export_of_three_million_rows_stays_under_300_mb(ctx):
    d = temp_dir("sc-ddp-big-")
    try:
        data = os.path.join(d, "big.csv")
        r = run(["demo-data", "--rows", "3000000", "--seed", "5", "--out", data], timeout=600)
        check(r.returncode == 0, r.stderr)
        out = os.path.join(d, "shards")
        r = subprocess.run([PYTHON, "-c", PEAK_OF_CHILD, BINARY, "dataset", "export", "--data", data, "--config",
                            example("demo", "dataset.json"), "--out", out, "--shard-rows", "500000"],
                           capture_output=True, text=True, timeout=900)
        check(r.returncode == 0, r.stderr[-2000:])
        lines = r.stdout.strip().splitlines()
        summary, peak_kb = json.loads(lines[0]), int(lines[-1])
        check(sum(summary["rows"].values()) == 3000000 and summary["shards"] == 8, summary)
        manifest = json.load(open(os.path.join(out, "manifest.json")))
        check(all(s["rows"] <= 500000 for s in manifest["shards"]) and len(manifest["shards"]) == 8,
              manifest["shards"])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("# 3,000,000 rows exported at a peak of %.0f MB resident in %.1f s" % (peak_kb / 1024, summary["seconds"]))
    if SANITIZED:
        print("# peak not checked: the sanitizer's allocator keeps what is freed")
    else:
        check(peak_kb < 300 * 1024, "export peaked at %.0f MB" % (peak_kb / 1024))


def rewrite_metadata(src, dst, change):
    """A safetensors file with its __metadata__ changed by change(meta) and the same tensors."""
    raw = open(src, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    change(header.setdefault("__metadata__", {}))
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(head)) + head + raw[8 + n:])


def test_export_refuses_bad_input_naming_the_field_line_or_file(ctx):
    d = temp_dir("sc-ddp-bad-")
    data = demo_csv(300)
    cfg = json.load(open(example("demo", "dataset.json")))

    def config(**change):
        c = dict(cfg, **change)
        path = os.path.join(d, "cfg-%d.json" % len(os.listdir(d)))
        json.dump(c, open(path, "w"))
        return path

    r = export(data, os.path.join(d, "a"), config=config(model=dict(cfg["model"], hiden=[3])))
    check(r.returncode == 1 and "model.hiden" in r.stderr, r.stderr)
    r = export(data, os.path.join(d, "b"), config=config(split={"fraction": 1.5}))
    check(r.returncode == 1 and "split.fraction" in r.stderr, r.stderr)
    lines = open(data).read().splitlines()
    bad = os.path.join(d, "bad.csv")
    open(bad, "w").write("\n".join(lines[:5] + [lines[5].replace(lines[5].split(",")[3], "abc", 1)] + lines[6:]) + "\n")
    r = export(bad, os.path.join(d, "c"))
    check(r.returncode == 1 and "line 6, column 4 (price)" in r.stderr and "abc" in r.stderr, r.stderr)
    open(bad, "w").write("\n".join(l.rsplit(",", 1)[0] for l in lines) + "\n")  # unit_cost gone: fine
    r = export(bad, os.path.join(d, "d"))
    check(r.returncode == 0, r.stderr)
    open(bad, "w").write("\n".join(",".join(l.split(",")[:3] + l.split(",")[4:]) for l in lines) + "\n")
    r = export(bad, os.path.join(d, "e"))
    check(r.returncode == 1 and 'no column "price"' in r.stderr, r.stderr)
    r = export(data, os.path.join(d, "d"))  # not empty now
    check(r.returncode == 1 and "is not empty" in r.stderr, r.stderr)
    r = export(os.path.join(d, "missing.csv"), os.path.join(d, "f"))
    check(r.returncode == 1 and "missing.csv" in r.stderr, r.stderr)
    r = export(data, os.path.join(d, "g"), extra=["--shard-rows", "0"])
    check(r.returncode == 2 and "--shard-rows" in r.stderr, r.stderr)
    r = run(["dataset", "export", "--data", data, "--config", example("demo", "dataset.json")])
    check(r.returncode == 2 and "--out is required" in r.stderr, r.stderr)
    r = run(["dataset", "frobnicate"])
    check(r.returncode == 2 and "unknown action" in r.stderr, r.stderr)
    open(bad, "w").write(lines[0] + "\n")
    r = export(bad, os.path.join(d, "h"))
    check(r.returncode == 1 and "header but no rows" in r.stderr, r.stderr)
    check(not os.path.exists(os.path.join(d, "h", "manifest.json")), "a failed export left a manifest")


def test_evaluate_refuses_bad_manifests_and_shards_naming_the_field_or_file(ctx):
    url = ctx.db()
    data = demo_csv(1500)
    train(url, data)
    d = temp_dir("sc-ddp-eval-")
    good = os.path.join(d, "good")
    check(export(data, good, extra=["--shard-rows", "200"]).returncode == 0, "export")
    manifest = json.load(open(os.path.join(good, "manifest.json")))

    def variant(name, change_manifest=None, change_files=None):
        v = os.path.join(d, name)
        shutil.copytree(good, v)
        m = json.loads(json.dumps(manifest))
        if change_manifest:
            change_manifest(m)
        json.dump(m, open(os.path.join(v, "manifest.json"), "w"))
        if change_files:
            change_files(v, m)
        return v

    def evaluate(v, version="1"):
        return run(["models", "evaluate", "demo", version, "--data", v, "--db", url])

    r = evaluate(os.path.join(d, "nowhere"))
    check(r.returncode == 1 and "manifest.json" in r.stderr, r.stderr)
    v = variant("garbage")
    open(os.path.join(v, "manifest.json"), "w").write("{not json")
    r = evaluate(v)
    check(r.returncode == 1 and "manifest.json" in r.stderr, r.stderr)
    test_shards = [i for i, s in enumerate(manifest["shards"]) if s["part"] == "test"]
    first = test_shards[0]
    r = evaluate(variant("escape", lambda m: m["shards"][first].update(file="../good/" + m["shards"][first]["file"])))
    check(r.returncode == 1 and "shards[%d].file" % first in r.stderr and "not a file name" in r.stderr, r.stderr)
    r = evaluate(variant("format", lambda m: m.update(format="shelfcast.dataset.v9")))
    check(r.returncode == 1 and "format" in r.stderr, r.stderr)

    def flip(v, m):
        path = os.path.join(v, m["shards"][first]["file"])
        b = bytearray(open(path, "rb").read())
        b[-3] ^= 0xff
        open(path, "wb").write(b)
    r = evaluate(variant("flipped", change_files=flip))
    check(r.returncode == 1 and "SHA-256" in r.stderr and manifest["shards"][first]["file"] in r.stderr, r.stderr)

    def fewer(m):  # rows that disagree with the shard's tensors, consistently in the manifest
        m["shards"][first]["rows"] -= 1
        m["parts"]["test"] -= 1
    r = evaluate(variant("shape", fewer))
    check(r.returncode == 1 and "must be F64 of shape" in r.stderr, r.stderr)

    def no_shard(v, m):
        os.unlink(os.path.join(v, m["shards"][first]["file"]))
    r = evaluate(variant("gone", change_files=no_shard))
    check(r.returncode == 1 and manifest["shards"][first]["file"] in r.stderr, r.stderr)
    r = evaluate(good, version="9")
    check(r.returncode == 1 and "version 9" in r.stderr, r.stderr)
    # a version that reads a feature the export does not have
    cfg = json.load(open(example("demo", "dataset.json")))
    cfg["features"]["numeric"] = ["price"]
    path = os.path.join(d, "narrow.json")
    json.dump(cfg, open(path, "w"))
    narrow = os.path.join(d, "narrow")
    check(export(data, narrow, config=path).returncode == 0, "narrow export")
    r = evaluate(narrow)
    check(r.returncode == 1 and '"weight_kg"' in r.stderr and "does not have" in r.stderr, r.stderr)
    check(ctx.pg.query(dbname(url), "SELECT count(*) FROM shelfcast.model_events WHERE event = 'evaluated'") == "0",
          "a refused evaluation stored something")


def test_import_refuses_a_bad_spec_or_metrics_naming_them(ctx):
    url = ctx.db()
    data = demo_csv(1500)
    train(url, data)
    d = temp_dir("sc-ddp-imp-")
    x = os.path.join(d, "x")
    check(export(data, x).returncode == 0, "export")
    w = os.path.join(d, "v1.safetensors")
    check(run(["models", "export", "demo", "1", "--out", w, "--db", url]).returncode == 0, "models export")
    # the exported spec's plain architecture does not fit train's packed blend: refused, naming the tensor
    r = run(["models", "import", "other", "--weights", w, "--spec", os.path.join(x, "spec.json"), "--db", url])
    check(r.returncode == 1 and "dense.0" in r.stderr, r.stderr)
    bad_spec = os.path.join(d, "spec.json")
    open(bad_spec, "w").write(open(os.path.join(x, "spec.json")).read().replace('"mean"', '"mean":"x","m2"', 1))
    r = run(["models", "import", "other", "--weights", w, "--spec", bad_spec, "--db", url])
    check(r.returncode == 1 and "spec" in r.stderr, r.stderr)
    for metrics, words in (("[1]", "expected an object"), ("{", "is not JSON"),
                           ('{"sales": {"r2_log": "high"}}', "__metadata__.metrics.sales.r2_log")):
        bad = os.path.join(d, "bad.safetensors")
        rewrite_metadata(w, bad, lambda meta: meta.update(metrics=metrics))
        r = run(["models", "import", "other", "--weights", bad, "--db", url])
        check(r.returncode == 1 and "__metadata__.metrics" in r.stderr and words in r.stderr, r.stderr)
    good = os.path.join(d, "good.safetensors")
    rewrite_metadata(w, good, lambda meta: meta.update(metrics='{"sales": {"r2_log": 0.5}, "note": "x"}'))
    r = run(["models", "import", "other", "--weights", good, "--db", url])
    check(r.returncode == 0, r.stderr)
    stored = json.loads(ctx.pg.query(dbname(url), "SELECT metrics::text FROM shelfcast.model_versions "
                                                  "WHERE model = 'other'"))
    check(stored == {"sales": {"r2_log": 0.5}, "note": "x"}, stored)


def test_the_ddp_script_refuses_a_shard_that_does_not_match_the_manifest(ctx):
    torch_available()
    d = temp_dir("sc-ddp-script-")
    x = os.path.join(d, "x")
    check(export(demo_csv(500), x).returncode == 0, "export")
    m = json.load(open(os.path.join(x, "manifest.json")))
    path = os.path.join(x, m["shards"][0]["file"])
    b = bytearray(open(path, "rb").read())
    b[-1] ^= 1
    open(path, "wb").write(b)
    p = subprocess.run([PYTHON, SCRIPT, x, "--out", os.path.join(d, "w.safetensors")], capture_output=True,
                       text=True, timeout=300)
    check(p.returncode == 1 and "SHA-256" in p.stderr and m["shards"][0]["file"] in p.stderr, p.stderr[-800:])
    check(not os.path.exists(os.path.join(d, "w.safetensors")), "weights written from a bad shard")


def test_export_from_sql_equals_the_export_of_the_same_rows_as_csv(ctx):
    url = ctx.db()
    db = dbname(url)
    data = demo_csv(1500)
    ctx.pg.query(db, "CREATE TABLE sales (item_id text, brand text, category text, price float8, weight_kg float8, "
                     "promo_level int, units int, featured int, unit_cost float8)")
    ctx.pg.psql(db, "\\copy sales FROM '%s' WITH (FORMAT csv, HEADER)" % data)
    d = temp_dir("sc-ddp-sql-")
    r = run(["dataset", "export", "--db", url, "--sql", "SELECT * FROM sales ORDER BY item_id", "--config",
             example("demo", "dataset.json"), "--out", os.path.join(d, "sql")])
    check(r.returncode == 0, r.stderr[-800:])
    check(export(data, os.path.join(d, "csv")).returncode == 0, "csv export")
    a, b = (json.load(open(os.path.join(d, x, "manifest.json"))) for x in ("sql", "csv"))
    check(a["parts"] == b["parts"] and a["source"]["name"] == "--sql", (a["parts"], b["parts"]))
    check(open(os.path.join(d, "sql", "spec.json")).read() == open(os.path.join(d, "csv", "spec.json")).read(),
          "the spec from --sql differs from the CSV's")
    r = run(["dataset", "export", "--db", url, "--sql", "DELETE FROM sales RETURNING *", "--config",
             example("demo", "dataset.json"), "--out", os.path.join(d, "w")])
    check(r.returncode == 1 and "--sql" in r.stderr, r.stderr[-300:])
    check(ctx.pg.query(db, "SELECT count(*) FROM sales") == "1500", "the query wrote")


def test_evaluate_refuses_shard_values_out_of_range_even_with_a_matching_checksum(ctx):
    import hashlib
    url = ctx.db()
    data = demo_csv(1000)
    train(url, data)
    d = temp_dir("sc-ddp-range-")
    good = os.path.join(d, "good")
    check(export(data, good).returncode == 0, "export")
    manifest = json.load(open(os.path.join(good, "manifest.json")))
    first = [i for i, s in enumerate(manifest["shards"]) if s["part"] == "test"][0]
    name = manifest["shards"][first]["file"]
    n_values = len(manifest["features"]["categorical"][0]["values"])

    def tampered(tag, tensor, fmt, value, row=3):
        v = os.path.join(d, tag)
        shutil.copytree(good, v)
        path = os.path.join(v, name)
        raw = bytearray(open(path, "rb").read())
        n = struct.unpack("<Q", raw[:8])[0]
        t = json.loads(raw[8:8 + n])[tensor]
        width = t["shape"][1] if len(t["shape"]) == 2 else 1
        size = struct.calcsize(fmt)
        at = 8 + n + t["data_offsets"][0] + row * width * size
        raw[at:at + size] = struct.pack(fmt, value)
        open(path, "wb").write(raw)
        m = json.loads(json.dumps(manifest))
        m["shards"][first]["sha256"] = hashlib.sha256(raw).hexdigest()
        json.dump(m, open(os.path.join(v, "manifest.json"), "w"))
        return run(["models", "evaluate", "demo", "1", "--data", v, "--db", url])

    for tag, tensor, fmt, value, words in (
            ("cat", "categorical", "<i", n_values, "index %d is not one of the manifest's %d values" % (n_values, n_values)),
            ("cat-neg", "categorical", "<i", -2, "index -2"),
            ("level", "level", "<i", 9, "level out of range"),
            ("exposure", "exposure", "<f", 0.5, "exposure out of range"),
            ("units", "units", "<d", -1.0, "units out of range"),
            ("nan", "units", "<d", float("nan"), "units out of range")):
        r = tampered(tag, tensor, fmt, value)
        check(r.returncode == 1 and name in r.stderr and "row 3" in r.stderr and words in r.stderr,
              "%s: %s" % (tag, r.stderr))
    # a NaN raw feature is a missing value, as in the CSV: scored with the default
    r = tampered("missing", "numeric", "<d", float("nan"))
    check(r.returncode == 0, r.stderr)
