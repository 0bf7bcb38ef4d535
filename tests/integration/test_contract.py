"""Issue 20: what a storefront client can rely on — a stable default model."""
import json

from harness import check, demo_csv, run, train

ITEM = {"features": {"brand": "Acme", "category": "snacks", "price": 2.49, "weight_kg": 0.3}}


def answered_by(s):
    r = s.predict({"items": [ITEM]})
    return r.json()["model"]["name"] if r.status == 200 else r.json()["error"]["message"]


def defaults(s):
    return sorted(m["name"] for m in s.get("/v1/models").json()["models"] if m["default"])


def test_the_default_never_moves_when_another_model_is_activated(ctx):
    url = ctx.db()
    data = demo_csv(1500)
    train(url, data, extra=["--activate"])
    s = ctx.serve(db_url=url, wait_ready=True)
    check(answered_by(s) == "demo" and defaults(s) == ["demo"], "the only model at start: %r" % defaults(s))
    train(url, data, extra=["--name", "other", "--activate"])
    s.wait_for(lambda: len(s.get("/v1/models").json()["models"]) == 2 and
               all(m["status"] == "serving" for m in s.get("/v1/models").json()["models"]), 5.0, "other served")
    check(answered_by(s) == "demo", "after a second model was activated: %r" % answered_by(s))
    check(s.get("/readyz").status == 200, "ready")
    # a server started with both and no flag has no default: it says so, and how to set one
    s2 = ctx.serve(db_url=url, wait_ready=True)
    msg = answered_by(s2)
    check("has no default" in msg and "models default NAME" in msg, msg)
    check(defaults(s2) == [], "no model marked default: %r" % defaults(s2))
    r = run(["models", "default", "other", "--db", url])
    check(r.returncode == 0 and "model other is the default (was none)" in r.stdout, r.stdout + r.stderr)
    s2.wait_for(lambda: answered_by(s2) == "other", 2.0, "the registry's flag within a second")
    check(defaults(s2) == ["other"], "marked: %r" % defaults(s2))
    check(answered_by(s) == "demo", "the only model at start outranks the flag: %r" % answered_by(s))
    d = s2.get("/v1/models/other").json()
    check(d["default"] is True and s2.get("/v1/models/demo").json()["default"] is False, "detail marks")
    # the flag on a model that serves nothing: not ready until it does
    train(url, data, extra=["--name", "staged"])
    r = run(["models", "default", "staged", "--db", url])
    check(r.returncode == 0 and "(was other)" in r.stdout, r.stdout + r.stderr)
    s2.wait_for(lambda: s2.get("/readyz").status == 503, 2.0, "not ready without the default")
    check("not loaded" in answered_by(s2), answered_by(s2))
    run(["models", "activate", "staged", "1", "--db", url])
    s2.wait_for(lambda: s2.get("/readyz").status == 200 and answered_by(s2) == "staged", 2.0, "ready again")
    ev = json.loads(ctx.pg.query(url.split("///")[1].split("?")[0],
                                 "SELECT json_agg(detail ORDER BY id) FROM shelfcast.model_events "
                                 "WHERE event = 'default_set'"))
    check(ev == [{"from": None}, {"from": "other"}], "audit: %r" % ev)
    # --model outranks everything
    s3 = ctx.serve(db_url=url, args=["--model", "demo"], wait_ready=True)
    check(answered_by(s3) == "demo" and defaults(s3) == ["demo"], "--model")


def test_models_default_bad_input(ctx):
    url = ctx.db()
    r = run(["models", "default", "--db", url])
    check(r.returncode == 2 and "expected 1 argument" in r.stderr, r.stderr)
    r = run(["models", "default", "nope", "--db", url])
    check(r.returncode != 0 and 'model "nope" does not exist' in r.stderr, r.stderr)
