"""Issue 5: the registry — versions, activation and rollback, validation of every load,
hot swap under load, the /v1/models API, database outages, safetensors interop."""
import json
import math
import os
import re
import struct
import subprocess
import threading
import time

from harness import check, dbname, demo_csv, run, safetensors_bytes, safetensors_metadata, temp_dir, train

ITEM = {"features": {"brand": "Acme", "category": "snacks", "price": 2.49, "weight_kg": 0.3}}


def two_versions(ctx, activate_first=True, rows=1500):
    url = ctx.db()
    data = demo_csv(rows)
    train(url, data, extra=["--activate"] if activate_first else [])
    train(url, data, extra=["--name", "demo"])  # same seed and data: same weights, a new version
    return url


def events(ctx, url):
    return json.loads(ctx.pg.query(dbname(url), "SELECT coalesce(json_agg(e ORDER BY id), '[]') FROM shelfcast.model_events e"))


def serving(s, version, model="demo"):
    r = s.get("/v1/models", validate=False).json()
    return any(m["name"] == model and m["serving_version"] == version for m in r["models"])


def test_activate_and_rollback_round_trip(ctx):
    url = two_versions(ctx)
    # an hour between polls: only NOTIFY can bring the swaps within the minute waited
    s = ctx.serve(db_url=url, wait_ready=True, args=["--poll-interval", "3600"])
    check(serving(s, 1), "not serving version 1")
    t0 = time.time()
    r = run(["models", "activate", "demo", "2", "--db", url])
    check(r.returncode == 0 and "version 2 is active (was 1)" in r.stdout, r.stdout + r.stderr)
    s.wait_for(lambda: serving(s, 2), 60, "version 2 through NOTIFY")
    print("# activation + swap: %.2f s" % (time.time() - t0))
    r = run(["models", "rollback", "demo", "--db", url])
    check(r.returncode == 0 and "from version 2 to version 1" in r.stdout, r.stdout + r.stderr)
    s.wait_for(lambda: serving(s, 1), 60, "rollback to version 1 through NOTIFY")
    ev = events(ctx, url)
    acts = [e for e in ev if e["event"] in ("activated", "rolled_back")]
    check([(e["detail"].get("from"), e["detail"]["to"]) for e in acts] == [(None, 1), (1, 2), (2, 1)],
          "event log: %r" % acts)
    check(all(e["actor"].startswith("cli:") and e["at"] for e in acts), "who and when: %r" % acts)
    # show lists every version with status and times
    r = run(["models", "show", "demo", "--json", "--db", url])
    m = json.loads(r.stdout)
    check([v["status"] for v in m["versions"]] == ["active", "archived"], "statuses %r" % m["versions"])
    check(all(v["created_at"] and v["activated_at"] for v in m["versions"]), "times")
    check(len(m["events"]) >= 4, "events in show --json")
    r = run(["models", "list", "--db", url])
    check("demo" in r.stdout and "R2_LOG" in r.stdout, r.stdout)
    # archive: not the active one
    r = run(["models", "archive", "demo", "1", "--db", url])
    check(r.returncode == 1 and "active version" in r.stderr, "archiving the active version: " + r.stderr)
    r = run(["models", "archive", "demo", "2", "--db", url])
    check(r.returncode == 0, r.stderr)
    r = run(["models", "rollback", "nope", "--db", url])
    check(r.returncode == 1 and "does not exist" in r.stderr, r.stderr)
    s.stop()


CORRUPTIONS = {
    "short tensor data": "UPDATE shelfcast.model_tensors SET data = substring(data from 1 for 10) WHERE version = 2 AND name = 'dense.0.weight'",
    "a NaN weight": "UPDATE shelfcast.model_tensors SET data = overlay(data placing '\\x0000c07f'::bytea from 5 for 4) WHERE version = 2 AND name = 'dense.1.weight'",
    "a wrong shape": "UPDATE shelfcast.model_tensors SET shape = '{32,32}' WHERE version = 2 AND name = 'dense.1.weight'",
    "a bad checksum": "UPDATE shelfcast.model_versions SET checksum = repeat('0', 64) WHERE version = 2",
    "a missing tensor": "DELETE FROM shelfcast.model_tensors WHERE version = 2 AND name = 'dense.2.bias'",
    "a spec that does not parse": "UPDATE shelfcast.model_versions SET spec = '{\"format\": \"x\"}' WHERE version = 2",
}


def test_corrupt_versions_are_refused_and_the_old_one_keeps_serving(ctx):
    for what, sql in CORRUPTIONS.items():
        url = two_versions(ctx)
        db = dbname(url)
        s = ctx.serve(db_url=url, wait_ready=True)
        ctx.pg.query(db, sql)
        r = run(["models", "activate", "demo", "2", "--db", url])
        check(r.returncode == 1 and "marked failed" in r.stderr, "%s: activate said %r" % (what, r.stderr))
        status = ctx.pg.query(db, "SELECT string_agg(status, ',' ORDER BY version) FROM shelfcast.model_versions")
        check(status == "active,failed", "%s: statuses %s" % (what, status))
        reason = ctx.pg.query(db, "SELECT detail->>'reason' FROM shelfcast.model_events WHERE event = 'load_failed'")
        check(reason, "%s: no load_failed event" % what)
        r = s.predict({"items": [ITEM]})
        check(r.status == 200 and r.json()["model"]["version"] == 1, "%s: serving %r" % (what, r.body[:200]))
        s.stop()


def test_a_corrupt_version_forced_active_in_sql_never_serves(ctx):
    url = two_versions(ctx)
    db = dbname(url)
    s = ctx.serve(db_url=url, wait_ready=True)
    ctx.pg.query(db, CORRUPTIONS["a NaN weight"])
    # Bypass shelfcast: flip the statuses by hand; the NOTIFY reaches the server.
    ctx.pg.query(db, "UPDATE shelfcast.model_versions SET status = 'archived' WHERE version = 1; "
                     "UPDATE shelfcast.model_versions SET status = 'active' WHERE version = 2")
    s.wait_for(lambda: "shelfcast_model_load_failures_total 1" in s.get("/metrics").body.decode(), 60,
               "the load failure to be counted")
    check(s.predict({"items": [ITEM]}).json()["model"]["version"] == 1, "a bad version served")
    s.wait_for(lambda: ctx.pg.query(db, "SELECT string_agg(status, ',' ORDER BY version) FROM shelfcast.model_versions") == "active,failed",
               60, "version 2 marked failed and version 1 restored")
    ev = [e["event"] for e in events(ctx, url)]
    check("load_failed" in ev and "restored" in ev, "events %r" % ev)
    m = s.get("/v1/models").json()["models"][0]
    check(m["serving_version"] == 1 and m["active_version"] == 1 and m["status"] == "serving", "v1/models: %r" % m)
    s.stop()


def test_hot_swap_under_load_never_fails_or_mixes_versions(ctx):
    url = two_versions(ctx)
    s = ctx.serve(db_url=url, wait_ready=True, args=["--poll-interval", "3600"])  # swaps by NOTIFY only
    stop = threading.Event()
    seen, failures = {}, []

    def hammer():
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        body = json.dumps({"items": [ITEM] * 20})
        while not stop.is_set():
            try:
                c.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
                if r.status != 200:
                    failures.append((r.status, data[:200]))
                    continue
                v = json.loads(data)["model"]["version"]
                seen[v] = seen.get(v, 0) + 1
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e))
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    swaps = []
    try:
        for i in range(6):
            target = 2 if i % 2 == 0 else 1
            t0 = time.time()
            r = run(["models", "activate", "demo", str(target), "--db", url])
            check(r.returncode == 0, r.stderr)
            s.wait_for(lambda: serving(s, target), 60, "version %d through NOTIFY" % target)
            swaps.append(time.time() - t0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    check(not failures, "failed requests during swaps: %r" % failures[:5])
    print("# %d swaps under load, the slowest seen %.3f s after its activate command began" % (len(swaps), max(swaps)))
    check(set(seen) == {1, 2} and sum(seen.values()) > 100, "replies by version: %r" % seen)
    s.stop()


def test_models_api_describes_what_serves(ctx):
    url = two_versions(ctx)
    s = ctx.serve(db_url=url, wait_ready=True)
    r = s.get("/v1/models")
    # Metrics come back as stored (rounded), not with float noise like 0.92996400000000001.
    noise = re.findall(rb"\d\.\d*(?:0{6,}|9{6,})\d", r.body)
    check(not noise, "numbers with float noise in /v1/models: %r" % noise[:5])
    m = r.json()["models"]
    check(len(m) == 1, m)
    m = m[0]
    check(m["name"] == "demo" and m["active_version"] == 1 and m["serving_version"] == 1 and m["status"] == "serving", m)
    check(m["loaded_at"] and m["metrics"]["sales_r2_log"] > 0.5 and m["metrics"]["baseline_logistic_auc"] > 0.5, m["metrics"])
    check([l["level"] for l in m["promotion_levels"]] == [0, 1, 2, 3], m["promotion_levels"])
    check({"name": "brand", "type": "categorical", "required": False} in m["inputs"], m["inputs"])
    check({"name": "price", "type": "numeric", "required": False} in m["inputs"], m["inputs"])
    d = s.get("/v1/models/demo").json()
    check([v["version"] for v in d["versions"]] == [1, 2] and d["versions"][1]["status"] == "staged", d["versions"])
    r = s.get("/v1/models/nope")
    check(r.status == 404 and r.json()["error"]["code"] == "not_found", "unknown model: %d" % r.status)
    s.stop()


def test_activation_over_the_api_needs_the_admin_token(ctx):
    url = two_versions(ctx)
    s = ctx.serve(db_url=url, wait_ready=True)
    r = s.post("/v1/models/demo/versions/2/activate")
    check(r.status == 403 and r.json()["error"]["code"] == "forbidden", "no token configured: %d" % r.status)
    s.stop()
    token = "activation-" + os.urandom(24).hex()
    s = ctx.serve(db_url=url, wait_ready=True, args=["--admin-token", token, "--poll-interval", "3600"])
    r = s.post("/v1/models/demo/versions/2/activate")
    check(r.status == 401 and r.header("WWW-Authenticate"), "no Authorization: %d" % r.status)
    r = s.post("/v1/models/demo/versions/2/activate", headers={"Authorization": "Bearer wrong"})
    check(r.status == 401, "wrong token: %d" % r.status)
    r = s.post("/v1/models/demo/versions/2/activate", headers={"Authorization": "Bearer " + token[:-1]})
    check(r.status == 401, "a prefix of the token: %d" % r.status)
    r = s.post("/v1/models/demo/versions/9/activate", headers={"Authorization": "Bearer " + token})
    check(r.status == 404, "unknown version: %d" % r.status)
    r = s.post("/v1/models/demo/versions/2/activate", headers={"Authorization": "Bearer " + token})
    check(r.status == 200 and r.json() == {"model": "demo", "version": 2, "previous_version": 1, "status": "active"}, r.body)
    s.wait_for(lambda: serving(s, 2), 60, "version 2 after API activation")
    ev = [e for e in events(ctx, url) if e["event"] == "activated"][-1]
    check(ev["actor"].startswith("api:127.0.0.1"), "actor %r" % ev["actor"])
    s.stop()
    check(token not in s.output(), "the token appears in the log")


def test_outage_and_recovery(ctx):
    pg = ctx.postgres()
    url = pg.url("postgres")
    check(run(["migrate", "--db", url]).returncode == 0, "migrate")
    data = demo_csv(1500)
    train(url, data, extra=["--activate"])
    train(url, data)
    s = ctx.serve(db_url=url, wait_ready=True, args=["--poll-interval", "30"])
    pg.stop()
    s.wait_for(lambda: s.get("/healthz").json()["database"] == "unreachable", 60, "healthz to notice the outage")
    check(s.get("/healthz").status == 200, "healthz must stay 200")
    check("shelfcast_db_up 0" in s.get("/metrics").body.decode(), "db_up should be 0")
    for _ in range(20):
        r = s.predict({"items": [ITEM]})
        check(r.status == 200 and r.json()["model"]["version"] == 1, "predict during the outage: %d" % r.status)
    check(s.get("/readyz").status == 200, "ready during the outage (a model is loaded)")
    pg.start()
    r = run(["models", "activate", "demo", "2", "--db", url])  # made while the server is still away
    check(r.returncode == 0, r.stderr)
    s.wait_for(lambda: serving(s, 2), 60, "the activation made during the outage")
    check(s.get("/healthz").json()["database"] == "ok", "database back")
    check("shelfcast_db_up 1" in s.get("/metrics").body.decode(), "db_up back to 1")
    s.stop()


def test_unreachable_database_at_start_still_serves_health(ctx):
    pg = ctx.postgres()
    url = pg.url("postgres")
    check(run(["migrate", "--db", url]).returncode == 0, "migrate")
    train(url, demo_csv(1200), extra=["--activate"])
    pg.stop()
    s = ctx.serve(db_url=url)
    check(s.get("/healthz").json()["database"] == "unreachable", "healthz")
    r = s.get("/readyz")
    check(r.status == 503 and "unreachable" in r.json()["error"]["message"], "readyz: %d %r" % (r.status, r.body))
    check(s.predict({"items": [ITEM]}).status == 503, "predict without a model is 503")
    pg.start()
    s.wait_for(lambda: s.get("/readyz", validate=False).status == 200, 60, "ready once the database answers")
    s.stop()


def test_export_then_import_gives_byte_identical_tensors(ctx):
    url = two_versions(ctx)
    out = os.path.join(temp_dir("sc-st-"), "demo.safetensors")
    r = run(["models", "export", "demo", "1", "--out", out, "--db", url])
    check(r.returncode == 0 and os.path.getsize(out) > 1000, r.stderr)
    raw = open(out, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    check("spec" in header["__metadata__"] and header["dense.0.weight"]["dtype"] == "F32", "header %r" % list(header))
    r = run(["models", "import", "copy", "--weights", out, "--db", url])
    check(r.returncode == 0 and "version 1" in r.stdout, r.stdout + r.stderr)
    same = ctx.pg.query(dbname(url),
                        "SELECT bool_and(a.data = b.data AND a.shape = b.shape) AND count(*) = 6 FROM shelfcast.model_tensors a "
                        "JOIN shelfcast.model_tensors b ON a.name = b.name WHERE a.model = 'demo' AND a.version = 1 AND b.model = 'copy'")
    check(same == "t", "tensors differ after export and import")
    cs = ctx.pg.query(dbname(url), "SELECT count(DISTINCT checksum) FROM shelfcast.model_versions WHERE (model, version) IN (('demo', 1), ('copy', 1))")
    check(cs == "1", "checksums differ")
    # corrupt files are refused exactly as a load is
    bad = out + ".bad"
    b = bytearray(raw)
    b[-4:] = struct.pack("<f", float("nan"))
    open(bad, "wb").write(b)
    r = run(["models", "import", "copy", "--weights", bad, "--db", url])
    check(r.returncode == 1 and "not a finite number" in r.stderr, r.stderr)
    open(bad, "wb").write(raw[:-7])
    r = run(["models", "import", "copy", "--weights", bad, "--db", url])
    check(r.returncode == 1 and "safetensors" in r.stderr, r.stderr)
    check(ctx.pg.query(dbname(url), "SELECT count(*) FROM shelfcast.model_versions WHERE model = 'copy'") == "1",
          "a refused import registered something")


TORCH_SCRIPT = r'''
import json, sys
import numpy as np
import torch
spec = json.load(open(sys.argv[1]))
inputs = json.load(open(sys.argv[2]))
torch.manual_seed(0)
d = spec["architecture"]["input_size"]
h = spec["architecture"]["hidden"]
net = torch.nn.Sequential(torch.nn.Linear(d, h[0]), torch.nn.ReLU(), torch.nn.Linear(h[0], h[1]), torch.nn.ReLU(), torch.nn.Linear(h[1], 2))
tensors = {}
for i, layer in enumerate([net[0], net[2], net[4]]):
    tensors["dense.%d.weight" % i] = layer.weight.detach().numpy().astype("<f4")
    tensors["dense.%d.bias" % i] = layer.bias.detach().numpy().astype("<f4")
# the weights as float32 values ({name: [shape, flat]}); the test writes them as safetensors
json.dump({name: [list(arr.shape), arr.ravel().astype(float).tolist()] for name, arr in tensors.items()},
          open(sys.argv[3], "w"))
x = torch.tensor(np.array(inputs, dtype=np.float32))
with torch.no_grad():
    y = net(x).numpy().astype(float)
t = y[:, 0] * spec["target"]["std"] + spec["target"]["mean"]
sales = np.maximum(0, np.expm1(t))
expo = 1 / (1 + np.exp(-y[:, 1]))
json.dump({"sales": sales.tolist(), "exposure": expo.tolist()}, open(sys.argv[4], "w"))
'''


def test_a_pytorch_safetensors_file_imports_and_predicts_like_pytorch(ctx):
    url = two_versions(ctx)
    d = temp_dir("sc-torch-")
    # the demo model's spec gives the encoding; PyTorch supplies the weights
    r = run(["models", "export", "demo", "1", "--out", os.path.join(d, "demo.safetensors"), "--db", url])
    check(r.returncode == 0, r.stderr)
    spec = json.loads(safetensors_metadata(os.path.join(d, "demo.safetensors"))["spec"])
    json.dump(spec, open(os.path.join(d, "spec.json"), "w"))
    # the rows the API will build for these items, encoded here by the documented rules
    items = [{"brand": "Acme", "category": "snacks", "price": 2.49, "weight_kg": 0.3},
             {"brand": "Ember", "category": "toys", "price": 21.0, "weight_kg": 1.1},
             {"brand": "Nope", "category": "household", "price": 7.5}]
    rows = []
    for it in items:
        for k in range(len(spec["promotion"]["levels"])):
            v = []
            for f in spec["inputs"]["numeric"]:
                x = it.get(f["name"], None)
                if x is not None and f.get("transform") == "log":
                    x = math.log(x)
                x = f["default"] if x is None else x
                lo, hi = f.get("clip", [-1e300, 1e300])
                v.append((min(max(x, lo), hi) - f["mean"]) / f["std"])
            for c in spec["inputs"]["categorical"]:
                one = [0.0] * (len(c["vocabulary"]) + 1)
                val = it.get(c["name"])
                one[c["vocabulary"].index(val) if val in c["vocabulary"] else len(c["vocabulary"])] = 1.0
                v += one
            lv = [0.0] * len(spec["promotion"]["levels"])
            lv[k] = 1.0
            rows.append(v + lv)
    json.dump(rows, open(os.path.join(d, "rows.json"), "w"))
    p = subprocess.run(["/usr/bin/python3", "-c", TORCH_SCRIPT, os.path.join(d, "spec.json"), os.path.join(d, "rows.json"),
                        os.path.join(d, "torch.tensors.json"), os.path.join(d, "torch.json")], capture_output=True,
                       text=True)
    check(p.returncode == 0, "PyTorch (python3-torch): " + p.stderr[-2000:])
    with open(os.path.join(d, "torch.safetensors"), "wb") as f:  # with PyTorch's metadata, as save_file writes it
        f.write(safetensors_bytes(json.load(open(os.path.join(d, "torch.tensors.json"))), {"format": "pt"}))
    r = run(["models", "import", "torchy", "--weights", os.path.join(d, "torch.safetensors"),
             "--spec", os.path.join(d, "spec.json"), "--activate", "--db", url])
    check(r.returncode == 0, r.stderr)
    s = ctx.serve(db_url=url, wait_ready=True)
    s.wait_for(lambda: serving(s, 1, "torchy"), 60, "torchy loaded")
    want = json.load(open(os.path.join(d, "torch.json")))
    r = s.predict({"model": "torchy", "include_levels": True, "items": [{"features": it} for it in items]}).json()
    K = len(spec["promotion"]["levels"])
    for i, pred in enumerate(r["predictions"]):
        for k, lv in enumerate(pred["levels"]):
            ws, we = want["sales"][i * K + k], want["exposure"][i * K + k]
            check(abs(lv["predicted_sales"] - ws) <= 1e-5 * max(1.0, abs(ws)),
                  "item %d level %d: sales %r vs PyTorch %r" % (i, k, lv["predicted_sales"], ws))
            check(abs(lv["exposure_probability"] - we) <= 1e-5, "item %d level %d: exposure %r vs %r" % (i, k, lv["exposure_probability"], we))
    s.stop()
