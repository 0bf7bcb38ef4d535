"""Issue 21: security and resource hardening, with the real binary and PostgreSQL.

Each test here is named in docs/security.md next to the item it proves.
"""
import json
import os
import subprocess

from harness import check, demo_csv, example, run, temp_dir, train


def dbname(url):
    return url.split("///")[1].split("?")[0]


def sales_table(ctx, rows=1500):
    url = ctx.db()
    db = dbname(url)
    ctx.pg.query(db, "CREATE TABLE sales (item_id text, brand text, category text, price float8, weight_kg float8, "
                     "promo_level int, units int, featured int)")
    ctx.pg.psql(db, "\\copy sales FROM '%s' WITH (FORMAT csv, HEADER)" % demo_csv(rows))
    return url, db


def train_sql(url, sql):
    return run(["train", "--db", url, "--sql", sql, "--config", example("demo", "dataset.json")])


def test_train_sql_runs_one_statement_read_only(ctx):
    url, db = sales_table(ctx)
    ctx.pg.query(db, "CREATE TABLE victim (x int); INSERT INTO victim VALUES (42)")
    # the reproduction of issue 21: close COPY's parenthesis, commit, drop a table
    r = train_sql(url, "SELECT 1 AS x) TO STDOUT; COMMIT; DROP TABLE victim; COPY (SELECT 1")
    check(r.returncode == 1 and "--sql must be one SELECT" in r.stderr, "injection: %d %r" % (r.returncode, r.stderr))
    check(ctx.pg.query(db, "SELECT x FROM victim") == "42", "the injected statements ran")
    # two statements, the second one writing
    r = train_sql(url, "SELECT * FROM sales; DROP TABLE victim")
    check(r.returncode == 1 and "--sql must be one SELECT" in r.stderr, "two statements: %r" % r.stderr)
    check(ctx.pg.query(db, "SELECT count(*) FROM victim") == "1", "the second statement ran")
    # a writing statement is not a query
    r = train_sql(url, "DELETE FROM victim RETURNING *")
    check(r.returncode == 1 and "--sql must be one SELECT" in r.stderr, "DELETE: %r" % r.stderr)
    # a query that tries to write from inside (a data-modifying CTE) meets the read-only transaction
    r = train_sql(url, "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM sales")
    check(r.returncode == 1 and "read-only" in r.stderr, "writing CTE: %r" % r.stderr)
    check(ctx.pg.query(db, "SELECT count(*) FROM victim") == "1", "the writing CTE deleted")
    # COPY TO a server file is not a query either
    target = os.path.join(temp_dir("sc-copy-"), "out.csv")
    r = train_sql(url, "SELECT 1) TO '%s' --" % target)
    check(r.returncode == 1 and not os.path.exists(target), "COPY TO a file: %r" % r.stderr)
    # and the honest query still trains, values with commas, quotes and NULLs intact
    ctx.pg.query(db, "UPDATE sales SET brand = 'Dune, \"Inc\"' WHERE brand = 'Dune'; "
                     "UPDATE sales SET weight_kg = NULL WHERE item_id IN (SELECT item_id FROM sales LIMIT 5)")
    r = train_sql(url, "SELECT * FROM sales")
    check(r.returncode == 0, r.stderr[-500:])
    m = json.loads(r.stdout)
    check(m["training"]["rows"]["read"] == 1500, m["training"]["rows"])
    check(ctx.pg.query(db, "SELECT position('\"Dune, \\\"Inc\\\"\"' in spec::text) > 0 "
                           "FROM shelfcast.model_versions") == "t", "the quoted category did not survive the CSV")


def psql_as(ctx, db, role, sql):
    return subprocess.run([os.path.join(ctx.pg.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-h", ctx.pg.sock, "-U", role, "-d", db, "-c", sql], capture_output=True, text=True)


def login_roles(ctx):
    """sc_reader and sc_writer: login roles in the two group roles the migrations create."""
    ctx.pg.query("postgres", "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sc_reader') THEN "
                             "CREATE ROLE sc_reader LOGIN IN ROLE shelfcast_reader; END IF; "
                             "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sc_writer') THEN "
                             "CREATE ROLE sc_writer LOGIN IN ROLE shelfcast_writer; END IF; END $$")


def test_audit_log_is_append_only_for_every_role(ctx):
    url = ctx.db()
    db = dbname(url)
    train(url, demo_csv(1200), extra=["--activate"])
    login_roles(ctx)
    before = ctx.pg.query(db, "SELECT string_agg(id || actor || event, ',' ORDER BY id) FROM shelfcast.model_events")
    changes = ["UPDATE shelfcast.model_events SET actor = 'nobody'",
               "DELETE FROM shelfcast.model_events",
               "TRUNCATE shelfcast.model_events"]
    migrations = ["INSERT INTO shelfcast.schema_migrations (version, name) VALUES (9999, 'forged')",
                  "UPDATE shelfcast.schema_migrations SET name = 'forged'",
                  "DELETE FROM shelfcast.schema_migrations",
                  "TRUNCATE shelfcast.schema_migrations"]
    for role in ("sc_reader", "sc_writer"):
        for sql in changes + migrations:
            r = psql_as(ctx, db, role, sql)
            check(r.returncode != 0 and "permission denied" in r.stderr, "%s may %s: %r" % (role, sql, r.stderr))
    # the owner (the role that migrates, here a superuser) meets the trigger on the audit log
    for sql in changes:
        r = ctx.pg.psql(db, sql, check=False)
        check(r.returncode != 0 and "append-only" in r.stderr, "the owner may %s: %r" % (sql, r.stderr))
    check(ctx.pg.query(db, "SELECT string_agg(id || actor || event, ',' ORDER BY id) FROM shelfcast.model_events")
          == before, "the audit log changed")
    check(ctx.pg.query(db, "SELECT count(*) FROM shelfcast.schema_migrations WHERE name = 'forged'") == "0",
          "schema_migrations was written")
    # what each role must still do: the writer appends events (activation), the reader reads them
    r = psql_as(ctx, db, "sc_writer", "INSERT INTO shelfcast.model_events (model, version, event, actor) "
                                      "VALUES ('demo', 1, 'noted', 'test')")
    check(r.returncode == 0, "the writer cannot append: " + r.stderr)
    r = psql_as(ctx, db, "sc_reader", "SELECT count(*) FROM shelfcast.model_events")
    check(r.returncode == 0 and int(r.stdout) >= 3, "the reader cannot read the log: " + r.stderr)
    r = run(["models", "activate", "demo", "1", "--db", url.replace("user=postgres", "user=sc_writer")])
    check(r.returncode == 0, "activation as the writer: " + r.stderr)


def test_rollback_checks_what_the_event_log_says(ctx):
    url = ctx.db()
    db = dbname(url)
    data = demo_csv(1200)
    train(url, data, extra=["--activate"])
    train(url, data)
    train(url, data)
    check(run(["models", "activate", "demo", "2", "--db", url]).returncode == 0, "activate 2")
    check(run(["models", "activate", "demo", "3", "--db", url]).returncode == 0, "activate 3")
    login_roles(ctx)
    writer = url.replace("user=postgres", "user=sc_writer")

    def forge(detail):
        r = psql_as(ctx, db, "sc_writer", "INSERT INTO shelfcast.model_events (model, version, event, actor, detail) "
                                          "VALUES ('demo', 3, 'activated', 'forged', '%s')" % detail)
        check(r.returncode == 0, r.stderr)

    # a writer can append a misleading activation event: rollback checks it instead of obeying
    for detail, why in (('{"from": "1; DROP", "to": 3}', "does not say which version"),
                        ('{"from": 3, "to": 3}', "does not say which version"),
                        ('{"from": 2, "to": 1}', "does not say which version"),
                        ('{"from": -2, "to": 3}', "does not say which version"),
                        ('{"from": 99, "to": 3}', "not an archived, once active version"),
                        ('{"from": 1.5, "to": 3}', "does not say which version")):
        forge(detail)
        r = run(["models", "rollback", "demo", "--db", writer])
        check(r.returncode == 1 and why in r.stderr, "%s: %d %r" % (detail, r.returncode, r.stderr))
        check(ctx.pg.query(db, "SELECT version FROM shelfcast.model_versions WHERE status = 'active'") == "3",
              "rollback moved the active version on %s" % detail)
    # version 1 was active once, but its weights no longer load: rollback refuses it
    forge('{"from": 1, "to": 3}')
    ctx.pg.query(db, "UPDATE shelfcast.model_tensors SET data = '\\x00' WHERE version = 1 AND name = 'dense.0.bias'")
    r = run(["models", "rollback", "demo", "--db", writer])
    check(r.returncode == 1 and "version 1, the one to roll back to, does not load" in r.stderr, r.stderr)
    # the true predecessor still works
    forge('{"from": 2, "to": 3}')
    r = run(["models", "rollback", "demo", "--db", writer])
    check(r.returncode == 0 and "from version 3 to version 2" in r.stdout, r.stdout + r.stderr)
