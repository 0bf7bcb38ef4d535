"""Issue 19: the production topology with the real components, started here: PgBouncer in transaction pooling."""
import glob
import os
import subprocess
import time

from harness import BINARY, SOURCE_ROOT, PgBouncer, check, demo_csv, run, train

ITEM = {"items": [{"features": {"brand": "Acme", "category": "snacks", "price": 2.5}}]}


def serving_version(server, model="demo"):
    for m in server.get("/v1/models", validate=False).json()["models"]:
        if m["name"] == model:
            return m["serving_version"]
    return None


def wait_all(servers, version, limit):
    t0 = time.time()
    while time.time() - t0 < limit:
        if all(serving_version(s) == version for s in servers):
            return time.time() - t0
        time.sleep(0.01)
    return None


def test_everything_works_through_pgbouncer_in_transaction_pooling(ctx):
    pg = ctx.pg
    name = pg.new_database()
    bouncer = PgBouncer(pg, pool_size=3)
    try:
        burl, direct = bouncer.url(name), pg.url(name)
        # three migrators at once through the pool: the transaction-scoped lock serialises them
        procs = [subprocess.Popen([BINARY, "migrate", "--db", burl], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
        outs = [(p.wait(120), p.stderr.read()) for p in procs]
        check(all(rc == 0 for rc, _ in outs), "concurrent migrate through pgbouncer: %r" % outs)
        applied = pg.query(name, "SELECT count(*), count(DISTINCT version) FROM shelfcast.schema_migrations")
        latest = len(glob.glob(os.path.join(SOURCE_ROOT, "migrations", "[0-9][0-9][0-9][0-9]_*.sql")))
        check(applied == "%d|%d" % (latest, latest),
              "schema_migrations after concurrent migrate: %r" % applied)
        locks = pg.query(name, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        check(locks == "0", "advisory locks left behind by migrate: %s" % locks)
        r = run(["migrate", "--db", burl])
        check(r.returncode == 0, "a second migrate through pgbouncer: " + r.stderr)

        data = demo_csv(1200)
        train(burl, data, extra=["--activate"])
        train(burl, data)
        replicas = [ctx.serve(db_url=burl, args=["--listen-db", direct, "--poll-interval", "30"], wait_ready=True)
                    for _ in range(3)]
        for rep in replicas:
            h = rep.get("/healthz").json()
            check(h["notify"] == "listen" and h["database"] == "ok", "healthz with --listen-db: %r" % h)
            check(rep.predict(ITEM).status == 200, "predict through pgbouncer")
        check(wait_all(replicas, 1, 2) is not None, "replicas do not serve version 1")

        r = run(["models", "activate", "demo", "2", "--db", burl])
        check(r.returncode == 0, "activate through pgbouncer: " + r.stderr)
        took = wait_all(replicas, 2, 5)
        check(took is not None and took <= 1.0, "activation through pgbouncer reached 3 replicas after %r s" % took)
        r = run(["models", "rollback", "demo", "--db", burl])
        check(r.returncode == 0, "rollback through pgbouncer: " + r.stderr)
        back = wait_all(replicas, 1, 5)
        check(back is not None and back <= 1.0, "rollback through pgbouncer reached 3 replicas after %r s" % back)
        print("# pgbouncer (transaction pooling): activation on 3 replicas in %.3f s, rollback in %.3f s"
              % (took, back))
        for rep in replicas:
            body = rep.predict(ITEM).json()
            check(body["model"]["version"] == 1, "predict after rollback: %r" % body["model"])
            rep.stop()
    finally:
        bouncer.close()


def test_listen_through_pgbouncer_is_detected_and_the_poll_brings_activations(ctx):
    pg = ctx.pg
    url = ctx.db()
    name = url.split("///")[1].split("?")[0]
    bouncer = PgBouncer(pg)
    try:
        burl = bouncer.url(name)
        data = demo_csv(1200)
        train(url, data, extra=["--activate"])
        train(url, data)
        # LISTEN on the pooled --db URL: the probe sees no notification arrive, so the poll is the mode
        pooled = ctx.serve(db_url=burl, args=["--poll-interval", "1"], wait_ready=True)
        h = pooled.get("/healthz").json()
        check(h["notify"] == "poll", "healthz when LISTEN goes through pgbouncer: %r" % h)
        check("listen_unusable" in pooled.output(), "no warning about the unusable LISTEN: " + pooled.output()[-2000:])
        none = ctx.serve(db_url=burl, args=["--listen-db", "none", "--poll-interval", "1"], wait_ready=True)
        check(none.get("/healthz").json()["notify"] == "poll", "--listen-db none is not poll mode")
        direct = ctx.serve(db_url=url, wait_ready=True)
        check(direct.get("/healthz").json()["notify"] == "listen", "a direct --db is not listen mode")
        r = run(["models", "activate", "demo", "2", "--db", burl])
        check(r.returncode == 0, r.stderr)
        took = wait_all([pooled, none, direct], 2, 5)
        check(took is not None, "the poll did not bring version 2")
        for s in (pooled, none, direct):
            s.stop()
    finally:
        bouncer.close()


def test_listen_db_bad_input(ctx):
    url = ctx.db()
    r = run(["serve", "--listen-db", "", "--db", url], timeout=30)
    check(r.returncode == 2 and "--listen-db" in r.stderr, "empty --listen-db: %d %r" % (r.returncode, r.stderr))
    r = run(["serve", "--listen-db"], timeout=30)
    check(r.returncode == 2 and "--listen-db" in r.stderr, "--listen-db without a value: %d %r"
          % (r.returncode, r.stderr))
    # SHELFCAST_LISTEN_DB names the LISTEN URL like the flag (an empty one means unset, as for every variable)
    s = ctx.serve(db_url=url, env={"SHELFCAST_LISTEN_DB": "none"})
    check(s.get("/healthz").json()["notify"] == "poll", "SHELFCAST_LISTEN_DB=none is not poll mode")
    s.stop()
