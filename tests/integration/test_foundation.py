"""Issue 2: CLI, database selection, embedded PostgreSQL, migrations, serve lifecycle."""
import json
import os
import signal
import socket
import subprocess
import time

import harness
from harness import check, dbname, run, temp_dir

SUBCOMMANDS = ["serve", "migrate", "train", "models", "predict", "demo-data", "version", "healthcheck"]


def postgres_pids(cluster_dir):
    """PIDs of postgres processes whose command line names this cluster."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and cmd and cmd[0].endswith(b"postgres") and cluster_dir.encode() in b" ".join(cmd):
            out.append(int(pid))
    return out


def test_every_subcommand_has_help(ctx):
    for cmd in SUBCOMMANDS:
        r = run([cmd, "--help"])
        check(r.returncode == 0, "%s --help exited %d" % (cmd, r.returncode))
        check("usage:" in r.stdout, "%s --help prints no usage" % cmd)


def test_unknown_subcommand_and_flag_exit_2_with_usage(ctx):
    r = run(["frobnicate"])
    check(r.returncode == 2 and "usage:" in r.stderr, "unknown subcommand: %d %r" % (r.returncode, r.stderr[:200]))
    for cmd in SUBCOMMANDS:
        r = run([cmd, "--no-such-flag"])
        check(r.returncode == 2, "%s --no-such-flag exited %d" % (cmd, r.returncode))
        check("unknown option" in r.stderr and "usage:" in r.stderr, "%s: stderr %r" % (cmd, r.stderr[:200]))
    r = run([])
    check(r.returncode == 2 and "usage:" in r.stderr, "no command: %d" % r.returncode)


def test_version_names_openblas_and_the_commit_built(ctx):
    r = run(["version"])
    check(r.returncode == 0 and "OpenBLAS" in r.stdout, "version: %r" % r.stdout)
    # the commit is read at build time: the checkout's HEAD, not the one meson was configured at
    head = harness.source_commit()
    if head:  # a git checkout (CI's is one)
        check("(commit %s," % head in r.stdout, "version %r, HEAD %s" % (r.stdout, head))


def test_migrate_twice_changes_nothing(ctx):
    url = ctx.pg.url(ctx.pg.new_database())
    r1 = run(["migrate", "--db", url])
    check(r1.returncode == 0, "first migrate: " + r1.stderr)
    n = int(ctx.pg.query(dbname(url), "SELECT count(*) FROM shelfcast.schema_migrations"))
    check(n >= 1 and "applied now" in r1.stdout and "(0 migrations" not in r1.stdout, r1.stdout)
    schema1 = ctx.pg.query(dbname(url),
                           "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema='shelfcast'")
    r2 = run(["migrate", "--db", url])
    check(r2.returncode == 0 and "(0 migrations applied now)" in r2.stdout, "second migrate: %r %r" % (r2.stdout, r2.stderr))
    db = dbname(url)
    check(int(ctx.pg.query(db, "SELECT count(*) FROM shelfcast.schema_migrations")) == n, "second run added rows")
    check(ctx.pg.query(db, "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema='shelfcast'") == schema1, "schema changed")
    for t in ("models", "model_versions", "model_tensors", "model_events", "schema_migrations"):
        check(t in schema1.split(","), "missing table " + t)


def test_registry_schema_allows_one_active_version_and_notifies(ctx):
    url = ctx.db()
    db = dbname(url)
    ctx.pg.query(db, "INSERT INTO shelfcast.models (name) VALUES ('m')")
    for v in (1, 2):
        ctx.pg.query(db, "INSERT INTO shelfcast.model_versions (model, version, spec, checksum) VALUES ('m', %d, '{}', 'x')" % v)
    ctx.pg.query(db, "UPDATE shelfcast.model_versions SET status='active' WHERE version=1")
    r = ctx.pg.psql(db, "UPDATE shelfcast.model_versions SET status='active' WHERE version=2", check=False)
    check(r.returncode != 0 and "model_versions_one_active" in r.stderr, "a second active version was accepted: " + r.stderr)
    trig = ctx.pg.query(db, "SELECT count(*) FROM pg_trigger WHERE tgname='model_versions_notify'")
    check(trig == "1", "no NOTIFY trigger")


def test_migrate_refuses_a_newer_schema(ctx):
    url = ctx.db()
    db = dbname(url)
    ctx.pg.query(db, "INSERT INTO shelfcast.schema_migrations (version, name) VALUES (9999, 'future')")
    r = run(["migrate", "--db", url])
    check(r.returncode == 1 and "newer than this shelfcast knows" in r.stderr, "migrate: %d %r" % (r.returncode, r.stderr))
    r = run(["models", "list", "--db", url])
    check(r.returncode == 1 and "newer" in r.stderr, "models list on a newer schema: %r" % r.stderr)


def test_external_database_with_old_schema_says_run_migrate(ctx):
    url = ctx.pg.url(ctx.pg.new_database())
    for args in (["models", "list"], ["predict", "--model", "x", "--data", "/dev/null"]):
        r = run(args + ["--db", url])
        check(r.returncode == 1 and "run shelfcast migrate" in r.stderr, "%s: %d %r" % (args, r.returncode, r.stderr))
    p = subprocess.run([ctx.h.BINARY, "serve", "--db", url, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and "run shelfcast migrate" in p.stderr, "serve on an old schema: %d %r" % (p.returncode, p.stderr[-300:]))


def test_unreachable_database_fails_within_10s_naming_host_and_cause(ctx):
    # A closed port: refused at once.  A server that accepts and never answers: the timeout.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port_closed = closed.getsockname()[1]
    closed.close()
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        for url, cause in (("postgresql://shelfcast@127.0.0.1:%d/x" % port_closed, "refused"),
                           ("postgresql://shelfcast@127.0.0.1:%d/x?sslmode=disable" % hung.getsockname()[1], "timeout")):
            t0 = time.time()
            r = run(["migrate", "--db", url], timeout=30)
            took = time.time() - t0
            # (exit 1 naming the cause, not run()'s 30 s kill: the connect timeout fired)
            check(r.returncode == 1, "migrate against %s exited %d" % (url, r.returncode))
            print("# migrate against a %s database: %.1f s" % (cause, took))
            check("127.0.0.1" in r.stderr and cause in r.stderr, "message does not name host and cause: %r" % r.stderr)
    finally:
        hung.close()


def test_embedded_cluster_is_started_reused_and_stopped_by_its_last_user(ctx):
    data = os.path.join(temp_dir("sc-embed-"), "state")
    s = ctx.serve(data_dir=data)
    cluster = os.path.join(data, "pg")
    check(os.path.exists(os.path.join(cluster, "PG_VERSION")), "no cluster under the data dir")
    check(postgres_pids(cluster), "no postgres running for the cluster")
    conf = open(os.path.join(cluster, "postmaster.opts")).read()
    check("listen_addresses=" in conf, "TCP not switched off: " + conf)
    s.wait_for(lambda: s.get("/healthz").json()["database"] == "ok", 60, "healthz to say the database is ok")
    # Another process reuses the live cluster and does not stop it on exit.
    r = run(["models", "list", "--data-dir", data])
    check(r.returncode == 0, "models list on the embedded cluster: " + r.stderr)
    check(postgres_pids(cluster), "models list stopped the cluster serve uses")
    check(s.get("/healthz").json()["database"] == "ok", "serve lost its database")
    s.stop(signal.SIGTERM)
    cluster_stopped(cluster, "the cluster to stop after serve's SIGTERM")
    # And SIGINT works the same; the cluster is reused (not initialized again).
    s = ctx.serve(data_dir=data)
    s.wait_for(lambda: s.get("/healthz").json()["database"] == "ok", 60, "healthz database ok on the second start")
    s.stop(signal.SIGINT)
    cluster_stopped(cluster, "the cluster to stop after serve's SIGINT")


def cluster_stopped(cluster, what):
    """Wait until no process runs in the cluster: the postmaster and its children, one of which, still
    attached to the shared memory, keeps a new postmaster from starting ("pre-existing shared memory
    block is still in use")."""
    harness.wait_until(lambda: not harness.running_in(cluster), 30, what)


def test_serve_logs_one_json_line_per_request(ctx):
    data = os.path.join(temp_dir("sc-embed-"), "state")
    s = ctx.serve(data_dir=data)
    for path in ("/healthz", "/readyz", "/v1/models", "/nope"):
        s.get(path, headers={"X-Request-Id": "req-" + path.strip("/").replace("/", "-")})
    s.stop()
    lines = [json.loads(l) for l in s.output().splitlines() if l.startswith("{")]
    reqs = [l for l in lines if l.get("event") == "request"]
    check(len(reqs) >= 4, "expected 4 request lines, got %d" % len(reqs))
    for l in reqs:
        for k in ("ts", "id", "method", "path", "status", "duration_ms"):
            check(k in l, "access log line lacks %s: %r" % (k, l))
    ids = {l["id"] for l in reqs}
    check("req-v1-models" in ids and "req-nope" in ids, "request ids not logged: %r" % ids)


def test_data_dir_that_is_not_a_cluster_is_refused_and_kept(ctx):
    data = temp_dir("sc-bad-")
    os.mkdir(os.path.join(data, "pg"))
    keep = os.path.join(data, "pg", "precious.txt")
    open(keep, "w").write("do not delete")
    r = run(["migrate", "--data-dir", data], timeout=60)
    check(r.returncode == 1 and "not a PostgreSQL cluster" in r.stderr or "holds no PostgreSQL cluster" in r.stderr,
          "%d %r" % (r.returncode, r.stderr))
    check(open(keep).read() == "do not delete", "the file was touched")


def test_data_dir_that_is_not_writable_is_refused(ctx):
    d = temp_dir("sc-ro-")
    f = os.path.join(d, "a-file")
    open(f, "w").close()
    r = run(["migrate", "--data-dir", os.path.join(f, "state")], timeout=30)
    check(r.returncode == 1 and ("cannot create" in r.stderr or "not writable" in r.stderr or "Not a directory" in r.stderr),
          "%d %r" % (r.returncode, r.stderr))
    r = run(["migrate", "--data-dir", "/proc/shelfcast-state"], timeout=30)
    check(r.returncode == 1 and "shelfcast" in r.stderr, "%d %r" % (r.returncode, r.stderr))


def test_port_in_use_is_a_clear_error(ctx):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    try:
        url = ctx.db()
        p = subprocess.run([ctx.h.BINARY, "serve", "--db", url, "--listen", "127.0.0.1:%d" % port],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 1, "serve on a busy port exited %d" % p.returncode)
        check("127.0.0.1:%d" % port in p.stderr and "in use" in p.stderr, "message: %r" % p.stderr[-300:])
    finally:
        sock.close()


def test_stale_postmaster_pid_is_recovered(ctx):
    data = os.path.join(temp_dir("sc-stale-"), "state")
    r = run(["migrate", "--data-dir", data], timeout=120)
    check(r.returncode == 0, r.stderr)
    cluster = os.path.join(data, "pg")
    # Start it, then kill the postmaster hard: postmaster.pid stays behind.
    s = ctx.serve(data_dir=data)
    pm = int(open(os.path.join(cluster, "postmaster.pid")).readline())
    s.proc.kill()
    s.proc.wait()
    os.kill(pm, signal.SIGKILL)
    cluster_stopped(cluster, "the killed cluster's processes to exit")
    check(os.path.exists(os.path.join(cluster, "postmaster.pid")), "postmaster.pid was not left behind")
    r = run(["migrate", "--data-dir", data], timeout=120)
    check(r.returncode == 0, "after a killed cluster: " + r.stderr)
    check(not postgres_pids(cluster), "migrate left postgres running")


def test_healthz_and_readyz_without_and_with_a_model(ctx):
    url = ctx.db()
    s = ctx.serve(db_url=url)
    s.wait_for(lambda: s.get("/healthz").json()["database"] == "ok", 60, "healthz to say the database is ok")
    h = s.get("/healthz")
    check(h.status == 200 and h.json()["database"] == "ok", "healthz %d %r" % (h.status, h.body))
    r = s.get("/readyz")
    check(r.status == 503 and r.json()["error"]["code"] == "not_ready", "readyz without a model: %d %r" % (r.status, r.body))
    ctx.h.train(url, ctx.h.demo_csv(1500), extra=["--activate"])
    s.wait_for(lambda: s.get("/readyz", validate=False).status == 200, 60, "readyz after activation")
    check(s.get("/readyz").json() == {"status": "ready"}, "readyz body")
    s.stop()
