"""The offline commands' inputs where a name plays two roles (an id column named like an option column, a
split column that is also the promotion column or a categorical feature, an imported spec whose id is an
input), and CSV bytes that a C string would cut short (NUL) or hide (a byte order mark): each is read as
what it is, or refused by name; never a crash, never a model registered that cannot load."""
import csv
import json
import os

from harness import check, demo_csv, example_config, run, safetensors_metadata, temp_dir, train, write_json



def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def ran(r, what):
    check(r.returncode >= 0, "%s was killed by signal %d: %s" % (what, -r.returncode, r.stderr[-2000:]))
    return r


def test_recommend_takes_an_id_column_named_like_an_option_as_the_id(ctx):
    """The id column is the model's: named unit_cost (numbers) or levels, it is an id, and the option of that
    name comes from its flag (unit_cost once crashed recommend; levels restricted each item to its id)."""
    d = temp_dir("sc-offline-id-")
    rows = list(csv.DictReader(open(demo_csv(2000, seed=5))))
    features = ["price", "weight_kg", "brand", "category"]
    items = [(str(17 + i), r["price"], r["weight_kg"], r["brand"], r["category"]) for i, r in enumerate(rows[:3])]
    for id_name in ("unit_cost", "levels"):
        url = ctx.db()
        data = write_csv(os.path.join(d, id_name + ".csv"),
                         [id_name] + features + ["promo_level", "units", "featured"],
                         [[str(i)] + [r[k] for k in features] + [r["promo_level"], r["units"], r["featured"]]
                          for i, r in enumerate(rows)])
        train(url, data, config=write_json(example_config(2, id_column=id_name), os.path.join(d, id_name + ".json")),
              extra=["--activate"])
        outs = []
        for ids in ([it[0] for it in items], ["a", "b", "c"]):  # numeric ids, then text ones: the same answers
            q = write_csv(os.path.join(d, "q.csv"), [id_name] + features,
                          [[i] + list(it[1:]) for i, it in zip(ids, items)])
            out = os.path.join(d, "out.csv")
            r = ran(run(["recommend", "--db", url, "--model", "demo", "--data", q, "--out", out, "--objective",
                         "profit", "--unit-cost", "0.5"]), "recommend with an id column named " + id_name)
            check(r.returncode == 0, "id column %s: exit %d: %s" % (id_name, r.returncode, r.stderr[-2000:]))
            got = list(csv.DictReader(open(out)))
            check([g[id_name] for g in got] == ids, "%s: ids %r" % (id_name, [g[id_name] for g in got]))
            for g in got:
                eff = float(g["effective_price"])
                check(abs(float(g["margin"]) - (eff - 0.5) / eff) < 1e-5, "%s: the flag's unit cost: %r" % (id_name, g))
            outs.append([{k: v for k, v in g.items() if k != id_name} for g in got])
        check(outs[0] == outs[1], "%s: the ids changed the answers: %r vs %r" % (id_name, outs[0], outs[1]))


def test_train_splits_on_the_promotion_column_or_a_categorical_feature(ctx):
    """split.column may name a column that plays another role: it is read as a number for the split (both
    crashed train)."""
    d = temp_dir("sc-offline-split-")
    rows = list(csv.DictReader(open(demo_csv(2000, seed=9))))
    data = os.path.join(d, "weeks.csv")
    with open(data, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) + ["week"])
        w.writeheader()
        for i, r in enumerate(rows):
            w.writerow(dict(r, week=i % 52))
    by_level = example_config(2, split={"column": "promo_level", "test_from": 3})
    by_week = example_config(2, split={"column": "week", "test_from": 40})
    by_week["features"] = dict(by_week["features"], categorical=["brand", "category", "week"])
    expected = {"level": sum(int(r["promo_level"]) >= 3 for r in rows), "week": sum(i % 52 >= 40 for i in range(len(rows)))}
    for name, cfg in (("level", by_level), ("week", by_week)):
        url = ctx.db()
        r = ran(train(url, data, config=write_json(cfg, os.path.join(d, name + ".json")), check_ok=False), "train split on " + name)
        check(r.returncode == 0, "split on %s: exit %d: %s" % (name, r.returncode, r.stderr[-2000:]))
        test_rows = json.loads(r.stdout)["test_rows"]
        check(0 < test_rows == expected[name], "split on %s: %d test rows, expected %d" % (name, test_rows, expected[name]))


def test_import_refuses_a_spec_whose_id_column_is_an_input(ctx):
    """A spec naming an input or the promotion column as its id is refused at import (predict and recommend
    crashed on such a version)."""
    url = ctx.db()
    train(url, demo_csv(2000, seed=3), extra=["--activate"])
    d = temp_dir("sc-offline-import-")
    weights = os.path.join(d, "v1.safetensors")
    r = run(["models", "export", "demo", "1", "--out", weights, "--db", url])
    check(r.returncode == 0, r.stderr)
    spec = json.loads(safetensors_metadata(weights)["spec"])
    for id_name, says in (("weight_kg", "is also an input"), (spec["promotion"]["column"], "is also the promotion column")):
        bad = write_json(dict(spec, id_column=id_name), os.path.join(d, "spec.json"))
        r = ran(run(["models", "import", "demo", "--weights", weights, "--spec", bad, "--db", url]), "import")
        check(r.returncode != 0 and "id_column" in r.stderr and says in r.stderr,
              "id_column %s: exit %d: %s" % (id_name, r.returncode, r.stderr))
    r = run(["models", "list", "--json", "--db", url])
    check(r.returncode == 0 and len(json.loads(r.stdout)["models"][0]["versions"]) == 1, r.stdout[:500])


def test_csv_nul_bytes_are_refused_and_a_byte_order_mark_is_skipped(ctx):
    """A NUL byte in a cell is refused naming its line and column (it cut values short: a model registered
    with a vocabulary it could not load); a UTF-8 byte order mark does not hide the first column."""
    url = ctx.db()
    d = temp_dir("sc-offline-bytes-")
    data = demo_csv(2000, seed=13)
    text = open(data, "rb").read()
    lines = text.split(b"\n")
    header = lines[0].split(b",")
    brand = header.index(b"brand")
    cells = lines[5].split(b",")
    cells[brand] += b"\x000"
    lines[5] = b",".join(cells)
    nul = os.path.join(d, "nul.csv")
    open(nul, "wb").write(b"\n".join(lines))
    r = ran(train(url, nul, extra=["--activate"], check_ok=False), "train with a NUL byte")
    check(r.returncode != 0 and "line 6, column %d (brand): a NUL byte" % (brand + 1) in r.stderr, r.stderr[-1000:])
    r = run(["models", "list", "--json", "--db", url])
    check(r.returncode == 0 and json.loads(r.stdout)["models"] == [], "registered: " + r.stdout[:300])
    train(url, data, extra=["--activate"])
    plain, bom = os.path.join(d, "plain.csv"), os.path.join(d, "bom.csv")
    rows = text.split(b"\n")[:6]
    # the price first, so that a hidden first column would silently be the default price
    order = [header.index(b"price")] + [i for i in range(len(header)) if header[i] != b"price"]
    body = b"\n".join(b",".join(row.split(b",")[i] for i in order) for row in rows) + b"\n"
    open(plain, "wb").write(body)
    open(bom, "wb").write(b"\xef\xbb\xbf" + body)
    outs = []
    for path in (plain, bom):
        r = ran(run(["predict", "--db", url, "--model", "demo", "--data", path]), "predict")
        check(r.returncode == 0, r.stderr[-1000:])
        outs.append(r.stdout)
    check(outs[0] == outs[1], "a byte order mark changed the answers:\n%s\n%s" % (outs[0], outs[1]))
    cells = body.split(b"\n")[1].split(b",")
    cells[0] += b"\x00junk"
    open(nul, "wb").write(body.split(b"\n")[0] + b"\n" + b",".join(cells) + b"\n")
    r = ran(run(["predict", "--db", url, "--model", "demo", "--data", nul]), "predict with a NUL byte")
    check(r.returncode == 1 and "line 2, column 1 (price): a NUL byte" in r.stderr, r.stderr[-1000:])


def test_recommend_needs_no_price_column_when_the_price_is_required_and_logged(ctx):
    """The search varies the price, so the CSV may leave it out, even when the price is a required feature
    that the model also reads through its log (the demo's layout)."""
    url = ctx.db()
    d = temp_dir("sc-offline-price-")
    cfg = example_config(2)
    cfg["features"] = dict(cfg["features"], required=["price"])
    train(url, demo_csv(2000, seed=21), config=write_json(cfg), extra=["--activate"])
    answers = []
    for header, row in ((["item_id", "weight_kg", "brand", "category"], ["a", "0.4", "Acme", "snacks"]),
                        (["item_id", "weight_kg", "brand", "category", "price"], ["a", "0.4", "Acme", "snacks", "3"])):
        q = write_csv(os.path.join(d, "q.csv"), header, [row])
        r = ran(run(["recommend", "--db", url, "--model", "demo", "--data", q, "--price-min", "1", "--price-max", "5"]),
                "recommend")
        check(r.returncode == 0, r.stderr[-1000:])
        answers.append(list(csv.DictReader(r.stdout.splitlines())))
    check(len(answers[0]) == 1 and 1 <= float(answers[0][0]["price"]) <= 5, answers[0])
    check(answers[0] == answers[1], "the search varies the price, so a given one changes nothing: %r" % answers)


def test_cli_whole_numbers_are_digits_only(ctx):
    """A count on the command line is digits: no sign, no space, no hexadecimal (strtoll took " 5" and "+5")."""
    for value in (" 5", "+5", "-0", "0x10", "5 ", "1e3"):
        r = ran(run(["demo-data", "--rows", value, "--out", os.path.join(temp_dir("sc-rows-"), "d.csv")]), "demo-data")
        check(r.returncode == 2 and "expected a whole number" in r.stderr, "--rows %r: %d %s" % (value, r.returncode, r.stderr))
    r = run(["demo-data", "--rows", "5", "--out", os.path.join(temp_dir("sc-rows-"), "d.csv")])
    check(r.returncode == 0, r.stderr)


def test_a_model_trained_on_huge_values_loads_serves_and_is_shown(ctx):
    """jsonb writes 1e20 as a 21-digit integer: a spec or metrics holding such numbers still load (the model was
    registered, then could not load, and `models show` crashed on the metrics)."""
    url = ctx.db()
    d = temp_dir("sc-offline-huge-")
    rows = list(csv.DictReader(open(demo_csv(2000, seed=23))))
    data = os.path.join(d, "huge.csv")
    with open(data, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow(dict(r, weight_kg=float(r["weight_kg"]) * 1e20, units=int(r["units"]) * 10 ** 20))
    train(url, data, config=write_json(example_config(2)), extra=["--activate"])
    r = ran(run(["models", "show", "demo", "--db", url]), "models show")
    check(r.returncode == 0 and "active" in r.stdout, r.stderr[-1000:])
    r = run(["models", "show", "demo", "--json", "--db", url])
    sales = json.loads(r.stdout)["versions"][0]["metrics"]["sales"]
    check(r.returncode == 0 and sales["rmse"] > 1e19, "the metrics as stored: %r" % sales)
    q = write_csv(os.path.join(d, "q.csv"), ["item_id", "price", "weight_kg", "brand", "category"],
                  [["a", "2.5", "4e19", rows[0]["brand"], rows[0]["category"]]])
    r = ran(run(["predict", "--db", url, "--model", "demo", "--data", q]), "predict")
    check(r.returncode == 0 and r.stdout.count("\n") == 2, r.stderr[-1000:])
    s = ctx.serve(db_url=url, wait_ready=True)
    m = s.get("/v1/models/demo").json()
    check(m["active_version"] == 1 and m["versions"][0]["metrics"]["sales"]["rmse"] > 1e19, m)
    check(s.predict({"items": [{"features": {"price": 2.5, "weight_kg": 4e19, "brand": rows[0]["brand"],
                                             "category": rows[0]["category"]}}]}).status == 200, "predict")
    s.stop()


def test_train_refuses_a_name_the_registry_would_refuse_before_training(ctx):
    """A model name outside the registry's rule fails at once, not after the training with a constraint's
    message; --name in its place is the one checked."""
    url = ctx.db()
    data = demo_csv(1500, seed=29)
    config = write_json(example_config(2, name="a@b"))
    r = ran(train(url, data, config=config, check_ok=False), "train")
    check(r.returncode == 2 and 'the config\'s name "a@b" is not a model name' in r.stderr and "epoch" not in r.stderr,
          r.stderr[-1000:])
    r = ran(train(url, data, config=config, extra=["--name", "-x"], check_ok=False), "train")
    check(r.returncode == 2 and '--name "-x" is not a model name' in r.stderr, r.stderr[-1000:])
    r = train(url, data, config=config, extra=["--name", "ok.v2"])
    check("registered ok.v2 version 1" in r.stderr, r.stderr[-500:])
