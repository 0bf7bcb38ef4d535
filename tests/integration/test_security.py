"""Issue 21: security and resource hardening, with the real binary and PostgreSQL.

Each test here is named in docs/security.md next to the item it proves.
"""
import json
import os

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
