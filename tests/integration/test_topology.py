"""Issue 19: the production topology with the real components, started here: PgBouncer in transaction
pooling, a streaming replica for reads."""
import glob
import os
import re
import subprocess
import time

from harness import BINARY, SANITIZED, SOURCE_ROOT, PgBouncer, check, dbname, demo_csv, run, temp_dir, train, wait_until

ITEM = {"items": [{"features": {"brand": "Acme", "category": "snacks", "price": 2.5}}]}


def serving_version(server, model="demo"):
    for m in server.get("/v1/models", validate=False).json()["models"]:
        if m["name"] == model:
            return m["serving_version"]
    return None


def wait_all(servers, version, limit, model="demo"):
    t0 = time.time()
    while time.time() - t0 < limit:
        if all(serving_version(s, model) == version for s in servers):
            return time.time() - t0
        time.sleep(0.01)
    return None


def default_model(server):
    return [m["name"] for m in server.get("/v1/models", validate=False).json()["models"] if m.get("default")]


def wait_default(servers, model, limit):
    t0 = time.time()
    while time.time() - t0 < limit:
        if all(default_model(s) == [model] for s in servers):
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
        # an hour between polls: only NOTIFY (on the --listen-db connection) can bring an activation
        replicas = [ctx.serve(db_url=burl, args=["--listen-db", direct, "--poll-interval", "3600"], wait_ready=True)
                    for _ in range(3)]
        for rep in replicas:
            h = rep.get("/healthz").json()
            check(h["notify"] == "listen" and h["database"] == "ok", "healthz with --listen-db: %r" % h)
            check(rep.predict(ITEM).status == 200, "predict through pgbouncer")
        check(wait_all(replicas, 1, 60) is not None, "replicas do not serve version 1")

        r = run(["models", "activate", "demo", "2", "--db", burl])
        check(r.returncode == 0, "activate through pgbouncer: " + r.stderr)
        took = wait_all(replicas, 2, 60)
        check(took is not None, "activation through pgbouncer did not reach 3 replicas")
        r = run(["models", "rollback", "demo", "--db", burl])
        check(r.returncode == 0, "rollback through pgbouncer: " + r.stderr)
        back = wait_all(replicas, 1, 60)
        check(back is not None, "rollback through pgbouncer did not reach 3 replicas")
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
    name = dbname(url)
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
        direct = ctx.serve(db_url=url, wait_ready=True, args=["--poll-interval", "3600"])
        check(direct.get("/healthz").json()["notify"] == "listen", "a direct --db is not listen mode")
        r = run(["models", "activate", "demo", "2", "--db", burl])
        check(r.returncode == 0, r.stderr)
        took = wait_all([pooled, none, direct], 2, 60)
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
    r = run(["serve", "--read-db", "", "--db", url], timeout=30)
    check(r.returncode == 2 and "--read-db" in r.stderr, "empty --read-db: %d %r" % (r.returncode, r.stderr))
    # SHELFCAST_LISTEN_DB names the LISTEN URL like the flag (an empty one means unset, as for every variable)
    s = ctx.serve(db_url=url, env={"SHELFCAST_LISTEN_DB": "none"})
    check(s.get("/healthz").json()["notify"] == "poll", "SHELFCAST_LISTEN_DB=none is not poll mode")
    s.stop()


def test_streaming_replica_serves_reads_and_outlives_the_primary(ctx):
    from harness import Replica
    primary = ctx.postgres()
    name = primary.new_database()
    purl = primary.url(name)
    r = run(["migrate", "--db", purl])
    check(r.returncode == 0, r.stderr)
    data = demo_csv(1200)
    train(purl, data, extra=["--activate"])
    # a second model: with two at start, the registry's flag alone names the default
    weights = os.path.join(temp_dir("sc-st-"), "demo.safetensors")
    r = run(["models", "export", "demo", "1", "--out", weights, "--db", purl])
    check(r.returncode == 0, r.stderr)
    r = run(["models", "import", "copy", "--weights", weights, "--activate", "--db", purl])
    check(r.returncode == 0, r.stderr)
    replica = Replica(primary)
    ctx._clusters.append(replica)
    rurl = replica.url(name)
    check(replica.query(name, "SELECT pg_is_in_recovery()") == "t", "the replica is not in recovery")
    # an hour between polls: NOTIFY from the primary and the replica_behind retry bring version 3
    servers = [ctx.serve(db_url=purl, args=["--read-db", rurl, "--poll-interval", "3600"], wait_ready=True)
               for _ in range(2)]
    # reads go to the replica: its pg_stat_activity shows the servers' connections
    apps = replica.query(name, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shelfcast-watcher'")
    check(int(apps) == 2, "watcher connections on the replica: %s" % apps)

    # the replica paused: a new activation is confirmed on the primary but not served from a stale replica
    train(purl, data)
    replica.query(name, "SELECT pg_wal_replay_pause()")
    train(purl, data)
    r = run(["models", "activate", "demo", "3", "--db", purl])
    check(r.returncode == 0, r.stderr)
    for s in servers:  # each says so once it has seen the activation the replica lacks
        s.wait_for(lambda: "replica_behind" in s.output(), 60, "a replica_behind line")
        check(serving_version(s) == 1, "served %r while the replica lacks version 3" % serving_version(s))
    # the default model is read on the primary too: the paused replica does not hold it back
    r = run(["models", "default", "copy", "--db", purl])
    check(r.returncode == 0, r.stderr)
    check(wait_default(servers, "copy", 60) is not None, "the default stayed %r with the replica paused"
          % [default_model(s) for s in servers])
    replica.query(name, "SELECT pg_wal_replay_resume()")
    took = wait_all(servers, 3, 60)
    check(took is not None, "version 3 not served after the replica resumed")
    failed = primary.query(name, "SELECT count(*) FROM shelfcast.model_versions WHERE status = 'failed'")
    check(failed == "0", "a lagging replica marked versions failed: %s" % failed)

    # the primary stopped: loaded models keep serving, /readyz stays 200
    primary.stop("fast")
    for s in servers:
        s.wait_for(lambda: s.get("/healthz").json()["database"] == "unreachable", 60,
                   "healthz to say the database is unreachable with the primary stopped")
        check(s.get("/readyz").status == 200, "readyz with the primary stopped")
        body = s.predict(dict(ITEM, model="demo")).json()
        check(body["model"]["version"] == 3, "predict with the primary stopped: %r" % body["model"])
        s.stop()

    # the replica promoted: serving resumes writes after a --db change and a restart
    replica.promote()
    s = ctx.serve(db_url=rurl, wait_ready=True, args=["--poll-interval", "3600"])
    train(rurl, data)
    r = run(["models", "activate", "demo", "4", "--db", rurl])
    check(r.returncode == 0, "activate on the promoted replica: " + r.stderr)
    check(wait_all([s], 4, 60) is not None, "the promoted replica's server does not pick up version 4 through NOTIFY")
    print("# replica: version 3 served %.3f s after the replica resumed; primary stopped: readyz 200, predictions "
          "from the loaded model; promoted: writes resumed" % took)
    s.stop()


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_sizing_memory_per_model_and_database_writes_per_prediction(ctx):
    url = ctx.db()
    name = dbname(url)
    # the same serving options as `full` below: with the log on, its 32 MiB queue (touched whole under meson's
    # MALLOC_PERTURB_) made the base larger than eight models, and the check below could not fail
    empty = ctx.serve(db_url=url, args=["--log-predictions", "0"])
    base = rss_kb(empty.proc.pid)
    empty.stop()
    data = demo_csv(1200)
    models = 8
    for i in range(models):
        train(url, data, extra=["--activate", "--name", "m%d" % i])
    def writes():
        """Rows written into shelfcast's tables (not the catalog's: an autovacuum ANALYZE writes there), once
        no other session is connected to the database: a backend flushes its statistics as it exits (a live
        one, up to 10 s after its writes)."""
        q = ("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND pid <> pg_backend_pid() "
             "AND backend_type = 'client backend'" % name)
        wait_until(lambda: ctx.pg.query(name, q) == "0", what="the sessions connected to %s to end" % name)
        return int(ctx.pg.query(name, "SELECT pg_stat_force_next_flush(); SELECT coalesce(sum(n_tup_ins + n_tup_upd "
                                      "+ n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = 'shelfcast'")
                   .splitlines()[-1])
    before = writes()
    check(before > 0, "pg_stat_user_tables counts no writes into shelfcast, not even the training's")
    # the registry's writes alone: the prediction log (one row per logged prediction) is off here
    full = ctx.serve(db_url=url, args=["--model", "m0", "--log-predictions", "0"], wait_ready=True)
    # ready once m0 is loaded: the other seven may still be loading
    full.wait_for(lambda: full.get("/healthz").json()["models_loaded"] == models, 60, "all eight models loaded")
    per_model = (rss_kb(full.proc.pid) - base) / models
    n = 1000
    for _ in range(n):
        check(full.predict(ITEM).status == 200, "predict")
    full.stop()  # its sessions end, and their statistics are flushed
    after = writes()  # the loads' writes and the predictions'
    print("# sizing: resident memory %.0f kB per loaded demo model (%d models, %d kB without); database rows "
          "written per prediction %.3f (%d over %d predictions and the start)"
          % (per_model, models, base, (after - before) / n, after - before, n))
    check(after - before <= 2, "predictions wrote %d rows" % (after - before))
    # with the log on: exactly one row per prediction, in shelfcast.predictions
    logging = ctx.serve(db_url=url, args=["--model", "m0"], wait_ready=True)
    for _ in range(n):
        check(logging.predict(ITEM).status == 200, "predict")
    logging.wait_for(lambda: re.search(r"^shelfcast_prediction_log_queued 0$", logging.get("/metrics").body.decode(),
                                       re.M), 30, "the log written")
    logged = int(ctx.pg.query(name, "SELECT count(*) FROM shelfcast.predictions"))
    print("# sizing: with the prediction log, %d rows over %d predictions" % (logged, n))
    check(logged == n, "the log holds %d rows for %d predictions" % (logged, n))
    logging.stop()
    if SANITIZED:
        print("# memory per model not checked: the sanitizer's allocator keeps what is freed")
    else:  # about 80 kB each: a megabyte means a model's working set is kept again or leaked per load
        check(per_model < 1024, "%.0f kB resident per loaded demo model (limit 1024 kB)" % per_model)
