"""Issue 22: training past one machine — dataset export, PyTorch DDP (torchrun, gloo on CPU),
import, and one measure of quality (models evaluate) through the serving code."""
import csv
import json
import os
import shutil
import struct
import subprocess

from harness import (BINARY, SANITIZED, SOURCE_ROOT, Skip, check, dbname, demo_csv, example, free_port, run,
                     temp_dir, train)

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


def read_metadata(path):
    raw = open(path, "rb").read()
    return json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])["__metadata__"]


def close_metrics(a, b, tol, what):
    for block in ("sales", "exposure"):
        for k, v in b[block].items():
            check(abs(a[block][k] - v) <= tol, "%s: %s.%s %r vs %r" % (what, block, k, a[block][k], v))


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
    torch_metrics = json.load(open(mpath))
    check(torch_metrics["trainer"]["world_size"] == 2 and torch_metrics["test_rows"] == manifest["parts"]["test"],
          torch_metrics)
    check(json.loads(read_metadata(out)["metrics"]) == torch_metrics, "metadata metrics differ from --metrics")

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
